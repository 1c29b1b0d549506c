//! Following `@odata.nextLink` from the first page to the last.

use super::{AdminService, Page, Query};
use crate::{Error, Instance, Result};

/// Runs a query page by page, without I/O: take the request with
/// [`next_request`](Self::next_request), send it, give the answer to
/// [`handle_response`](Self::handle_response), and repeat until
/// `next_request` returns `None`.
///
/// Every `@odata.nextLink` is checked with
/// [`AdminService::check_next_link`] (same scheme, host, port, and a path
/// under the service) before it becomes a request, so a hostile answer
/// cannot send the client's credentials elsewhere; a bad link is
/// [`Error::InvalidResponse`]. A query with more than
/// [`Limits::max_pages`](super::Limits::max_pages) pages fails with
/// [`Error::TooLarge`]. After an error the pager is done.
///
/// ```
/// use sccm_wmi::odata::{AdminService, Query};
///
/// let service = AdminService::new("https://cm01.contoso.com/AdminService")?;
/// let mut pager = service.pager(&Query::wmi("SMS_R_System"))?;
/// let request = pager.next_request().expect("a first request");
/// assert_eq!(request.uri(), "https://cm01.contoso.com/AdminService/wmi/SMS_R_System");
/// assert!(pager.next_request().is_none()); // waiting for the answer
/// let body = br#"{"@odata.context":"https://cm01.contoso.com/AdminService/wmi/$metadata#SMS_R_System",
///     "value":[{"ResourceId":16777219}],
///     "@odata.nextLink":"https://cm01.contoso.com/AdminService/wmi/SMS_R_System?$skip=1"}"#;
/// let items = pager.handle_response(&http::Response::new(&body[..]))?;
/// assert_eq!(items[0].class, "SMS_R_System");
/// let request = pager.next_request().expect("a second page");
/// assert_eq!(request.uri(), "https://cm01.contoso.com/AdminService/wmi/SMS_R_System?$skip=1");
/// let last = br#"{"value":[]}"#;
/// assert!(pager.handle_response(&http::Response::new(&last[..]))?.is_empty());
/// assert!(pager.is_done());
/// # Ok::<(), sccm_wmi::Error>(())
/// ```
#[derive(Debug)]
pub struct Pager {
    service: AdminService,
    state: State,
    pages: usize,
}

#[derive(Debug)]
enum State {
    /// A request to hand out.
    Ready(Box<http::Request<Vec<u8>>>),
    /// Handed out; waiting for its answer.
    Waiting,
    /// The last page was read, or an error ended the run.
    Done,
}

impl Pager {
    /// A pager for `query` on `service`.
    pub fn new(service: AdminService, query: &Query) -> Result<Self> {
        let first = service.query(query)?;
        Ok(Self {
            service,
            state: State::Ready(Box::new(first)),
            pages: 0,
        })
    }

    /// The next request to send, once: `None` while an answer is awaited
    /// and after the last page.
    pub fn next_request(&mut self) -> Option<http::Request<Vec<u8>>> {
        match core::mem::replace(&mut self.state, State::Waiting) {
            State::Ready(r) => Some(*r),
            other => {
                self.state = other;
                None
            }
        }
    }

    /// Reads the answer to the last request: the page's entities.
    pub fn handle_response(&mut self, response: &http::Response<&[u8]>) -> Result<Vec<Instance>> {
        self.handle_page(response).map(|p| p.items)
    }

    /// Like [`handle_response`](Self::handle_response), returning the
    /// whole [`Page`].
    pub fn handle_page(&mut self, response: &http::Response<&[u8]>) -> Result<Page> {
        if !matches!(self.state, State::Waiting) {
            return Err(Error::InvalidRequest {
                what: "an answer the pager did not ask for".into(),
            });
        }
        self.state = State::Done;
        let page = self.service.parse_page(response)?;
        self.pages += 1;
        if let Some(link) = &page.next_link {
            let max = self.service.limits().max_pages;
            if self.pages >= max {
                return Err(Error::TooLarge {
                    what: "pages",
                    limit: max,
                });
            }
            self.state = State::Ready(Box::new(self.service.next_page(link)?));
        }
        Ok(page)
    }

    /// Whether the last page has been read (or an error ended the run).
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// How many pages have been read.
    pub fn pages(&self) -> usize {
        self.pages
    }
}
