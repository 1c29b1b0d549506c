//! WMI over WS-Management (WinRM): SOAP envelopes and answers.

/// A SOAP fault from the WS-Management service.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("WS-Management fault")]
pub struct WsManFault;
