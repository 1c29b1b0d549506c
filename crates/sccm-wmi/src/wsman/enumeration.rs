//! The enumeration state machine: `Enumerate`, `Pull` … until
//! `EndOfSequence`, or `Release` when the caller stops first.

use super::response::EnumerationBatch;
use super::{MessageId, WsMan};
use crate::{Error, Result};

/// Drives one WS-Enumeration from the optimized `Enumerate` through
/// `Pull`s to `EndOfSequence`, without I/O.
///
/// Ask [`next_request`](Self::next_request) for the request to send, hand
/// its answer to [`handle_response`](Self::handle_response), read the
/// batch's items, and repeat until `next_request` gives `None`. Memory stays
/// bounded by one batch. A caller that has seen enough calls
/// [`stop`](Self::stop): the next request is then the `Release` of the
/// context the service still holds (none when the sequence already ended).
///
/// A batch with neither `EndOfSequence` nor a context is an error (the
/// enumeration cannot go on); so is a run of more than
/// [`max_empty_batches`](Self::set_max_empty_batches) empty batches in a row
/// (default 16), after which the context is released. After a fault or an
/// unreadable answer the enumeration is over (the service drops the context
/// of a failed `Pull`).
///
/// ```
/// use sccm_wmi::wsman::{Enumeration, MessageId, WsMan};
///
/// let ws = WsMan::for_site("http://provider:5985/wsman", "PS1")?;
/// let mut e = Enumeration::wql(&ws, "SELECT * FROM SMS_R_System")?;
/// let request = e.next_request(&ws, &MessageId::from_bytes([1; 16]))?.expect("the Enumerate");
/// # let _ = request;
/// // … send it; the service answers the first batch and a context:
/// let answer = br#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"
///   xmlns:n="http://schemas.xmlsoap.org/ws/2004/09/enumeration"
///   xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><s:Body>
///   <n:EnumerateResponse><n:EnumerationContext>uuid:5F0E</n:EnumerationContext>
///   <w:Items><p:SMS_R_System xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wmi/root/sms/site_PS1/SMS_R_System">
///   <p:Name>MAC-01</p:Name></p:SMS_R_System></w:Items></n:EnumerateResponse></s:Body></s:Envelope>"#;
/// let response = http::Response::builder().status(200).body(&answer[..]).unwrap();
/// let batch = e.handle_response(&ws, &response)?;
/// for item in batch.items() {
///     assert_eq!(item?.get_str("Name"), Some("MAC-01"));
/// }
/// e.stop(); // enough: the next request releases the context
/// let release = e.next_request(&ws, &MessageId::from_bytes([2; 16]))?.expect("the Release");
/// assert!(String::from_utf8_lossy(release.body()).contains("uuid:5F0E"));
/// # Ok::<(), sccm_wmi::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Enumeration {
    resource_uri: String,
    wql: Option<String>,
    state: State,
    stopped: bool,
    empty_batches: u32,
    max_empty_batches: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    /// The `Enumerate` is still to be sent.
    New,
    /// The `Enumerate` was sent; its answer is awaited.
    AwaitingEnumerate,
    /// A `Pull` was sent; its answer is awaited.
    AwaitingPull,
    /// The service holds this context; the next request pulls or releases.
    Holding(String),
    /// A `Release` was sent; its answer is awaited.
    AwaitingRelease,
    /// Over.
    Done,
}

impl Enumeration {
    /// Every instance of `class`.
    pub fn class(ws: &WsMan, class: &str) -> Result<Self> {
        Ok(Self::new(ws.resource_uri(class)?, None))
    }

    /// The answer to the WQL `query`.
    pub fn wql(ws: &WsMan, query: &str) -> Result<Self> {
        super::xml::check_xml_text(query, "the WQL query")?;
        Ok(Self::new(ws.wql_resource_uri(), Some(query.to_owned())))
    }

    fn new(resource_uri: String, wql: Option<String>) -> Self {
        Self {
            resource_uri,
            wql,
            state: State::New,
            stopped: false,
            empty_batches: 0,
            max_empty_batches: 16,
        }
    }

    /// Sets how many empty batches in a row (without `EndOfSequence`) are
    /// accepted before the enumeration is given up.
    pub fn set_max_empty_batches(&mut self, n: u32) -> &mut Self {
        self.max_empty_batches = n;
        self
    }

    /// The resource URI every request of this enumeration names.
    pub fn resource_uri(&self) -> &str {
        &self.resource_uri
    }

    /// The context the service holds for this enumeration, if any.
    pub fn context(&self) -> Option<&str> {
        match &self.state {
            State::Holding(c) => Some(c),
            _ => None,
        }
    }

    /// Whether the enumeration is over: nothing more to send.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Stops early: no more `Pull`s; the next request releases the
    /// context if the service still holds one.
    pub fn stop(&mut self) {
        self.stopped = true;
        if self.state == State::New {
            self.state = State::Done;
        }
    }

    /// The next request to send, with the `MessageID` `id`; `None` when
    /// the enumeration is over. Asking again before the previous answer
    /// was handled is an error.
    pub fn next_request(
        &mut self,
        ws: &WsMan,
        id: &MessageId,
    ) -> Result<Option<http::Request<Vec<u8>>>> {
        match std::mem::replace(&mut self.state, State::Done) {
            State::New => {
                self.state = State::AwaitingEnumerate;
                Ok(Some(ws.enumerate_at(
                    &self.resource_uri,
                    self.wql.as_deref(),
                    id,
                )))
            }
            State::Holding(ctx) if self.stopped => {
                let request = ws.release(&self.resource_uri, &ctx, id);
                self.state = match &request {
                    Ok(_) => State::AwaitingRelease,
                    Err(_) => State::Holding(ctx),
                };
                request.map(Some)
            }
            State::Holding(ctx) => {
                let request = ws.pull(&self.resource_uri, &ctx, ws.max_elements(), id);
                self.state = match &request {
                    Ok(_) => State::AwaitingPull,
                    Err(_) => State::Holding(ctx),
                };
                request.map(Some)
            }
            State::Done => Ok(None),
            waiting @ (State::AwaitingEnumerate | State::AwaitingPull | State::AwaitingRelease) => {
                self.state = waiting;
                Err(Error::InvalidRequest {
                    what: "the answer to the previous request has not been handled".into(),
                })
            }
        }
    }

    /// Reads the answer to the request [`next_request`](Self::next_request)
    /// gave last. The answer to a `Release` gives an empty batch.
    pub fn handle_response<'a>(
        &mut self,
        ws: &WsMan,
        response: &http::Response<&'a [u8]>,
    ) -> Result<EnumerationBatch<'a>> {
        let state = std::mem::replace(&mut self.state, State::Done);
        let batch = match state {
            State::AwaitingEnumerate => ws.parse_enumerate(response)?,
            State::AwaitingPull => ws.parse_pull(response)?,
            State::AwaitingRelease => {
                ws.parse_release(response)?;
                return Ok(EnumerationBatch::empty(true));
            }
            other => {
                self.state = other;
                return Err(Error::InvalidRequest {
                    what: "no enumeration request is awaiting an answer".into(),
                });
            }
        };
        if batch.end_of_sequence {
            return Ok(batch);
        }
        let Some(ctx) = batch.context.clone() else {
            return Err(Error::InvalidResponse {
                what: "a batch with neither EndOfSequence nor an EnumerationContext".into(),
            });
        };
        self.state = State::Holding(ctx);
        if batch.is_empty() {
            self.empty_batches += 1;
            if self.empty_batches > self.max_empty_batches {
                // Give up, but let the caller release the context.
                self.stopped = true;
                return Err(Error::InvalidResponse {
                    what: format!(
                        "{} empty batches in a row without EndOfSequence",
                        self.empty_batches
                    ),
                });
            }
        } else {
            self.empty_batches = 0;
        }
        Ok(batch)
    }
}
