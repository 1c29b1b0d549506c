//! AdminService (REST, OData v4): requests and answers.

/// A WMI error reported through AdminService.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("WMI error")]
pub struct WmiError;
