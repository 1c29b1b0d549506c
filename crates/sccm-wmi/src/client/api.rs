//! The two provider clients: [`AdminServiceClient`] (REST) and
//! [`WsManClient`] (WMI over WS-Management), each on one [`HttpSession`].

use bytes::Bytes;

use super::{ClientConfig, HttpSession, Sealing};
use crate::odata::{AdminService, Key, Pager, Query, UpdateMode};
use crate::wsman::{Enumeration, MessageId, ResourceCreated, WsMan};
use crate::{Error, Instance, Result};

/// The answer as the I/O-free parsers read it.
fn view(response: &http::Response<Bytes>) -> http::Response<&[u8]> {
    let mut r = http::Response::new(response.body().as_ref());
    *r.status_mut() = response.status();
    *r.headers_mut() = response.headers().clone();
    r
}

/// The SMS Provider's AdminService (`https://<provider>/AdminService`).
///
/// ```no_run
/// # async fn f() -> sccm_wmi::Result<()> {
/// use sccm_wmi::client::{AdminServiceClient, Auth, ClientConfig, Trust};
/// use sccm_wmi::ntlm::Credentials;
/// use sccm_wmi::odata::{Filter, Query};
///
/// let mut config = ClientConfig::default();
/// config
///     .auth(Auth::Negotiate(Credentials::parse("CONTOSO\\svc-pippin", "secret")?))
///     .trust(Trust::parse_pin(&std::env::var("PIPPIN_WMI_PIN").unwrap_or_default())?);
/// let mut cm = AdminServiceClient::new("https://cm01.contoso.com/AdminService", config)?;
/// let mut rows = cm.query(&Query::wmi("SMS_R_System").filter(Filter::eq("Client", 1)))?;
/// while let Some(page) = rows.next_page(&mut cm).await? {
///     for system in page {
///         println!("{:?}", system.get("Name"));
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct AdminServiceClient {
    service: AdminService,
    http: HttpSession,
}

/// A query being read page by page (`@odata.nextLink`), so that memory
/// holds one page at a time however many rows the query has.
#[derive(Debug)]
pub struct Rows {
    pager: Pager,
}

impl Rows {
    /// The next page's rows; `None` after the last page.
    pub async fn next_page(
        &mut self,
        client: &mut AdminServiceClient,
    ) -> Result<Option<Vec<Instance>>> {
        let Some(request) = self.pager.next_request() else {
            return Ok(None);
        };
        let response = client.http.send(request).await?;
        self.pager.handle_response(&view(&response)).map(Some)
    }

    /// How many pages have been read.
    pub fn pages(&self) -> usize {
        self.pager.pages()
    }
}

impl AdminServiceClient {
    /// A client for the AdminService at `base_url` (ending in
    /// `/AdminService`).
    pub fn new(base_url: &str, config: ClientConfig) -> Result<Self> {
        let service = AdminService::new(base_url)?;
        let http = HttpSession::new(base_url, config, Sealing::None)?;
        Ok(Self { service, http })
    }

    /// The request builder, for requests this client has no method for.
    pub fn service(&self) -> &AdminService {
        &self.service
    }

    /// The session, to send what [`service`](Self::service) built.
    pub fn session(&mut self) -> &mut HttpSession {
        &mut self.http
    }

    /// Starts `query`; read it with [`Rows::next_page`].
    pub fn query(&self, query: &Query) -> Result<Rows> {
        Ok(Rows {
            pager: self.service.pager(query)?,
        })
    }

    /// Every row of `query`, all pages (for small answers: a site's
    /// collections, not its devices).
    pub async fn query_all(&mut self, query: &Query) -> Result<Vec<Instance>> {
        let mut rows = self.query(query)?;
        let mut all = Vec::new();
        while let Some(page) = rows.next_page(self).await? {
            all.extend(page);
        }
        Ok(all)
    }

    /// The instance of `class` with `key` (`SMS_R_System(16777219)`).
    /// A missing instance is [`Error::Wmi`] with `WBEM_E_NOT_FOUND`.
    pub async fn get(&mut self, class: &str, key: &Key) -> Result<Instance> {
        let request = self.service.get(class, key)?;
        let response = self.http.send(request).await?;
        self.service.parse_entity(&view(&response))
    }

    /// Creates `instance` (POST) and returns what the provider stored,
    /// with its key.
    pub async fn create(&mut self, instance: &Instance) -> Result<Instance> {
        let request = self.service.create(instance)?;
        let response = self.http.send(request).await?;
        self.service.parse_entity(&view(&response))
    }

    /// Changes the properties in `changes` (PATCH) or replaces the
    /// instance (PUT); `etag` makes the change conditional.
    pub async fn update(
        &mut self,
        class: &str,
        key: &Key,
        changes: &Instance,
        mode: UpdateMode,
        etag: Option<&str>,
    ) -> Result<()> {
        let request = self.service.update(class, key, changes, mode, etag)?;
        let response = self.http.send(request).await?;
        self.service.parse_empty(&view(&response))
    }

    /// Deletes the instance.
    pub async fn delete(&mut self, class: &str, key: &Key, etag: Option<&str>) -> Result<()> {
        let request = self.service.delete(class, key, etag)?;
        let response = self.http.send(request).await?;
        self.service.parse_empty(&view(&response))
    }

    /// Calls the static method `class.method` (`SMS_Site.ImportMachineEntry`)
    /// and returns its out parameters.
    pub async fn invoke_static(
        &mut self,
        class: &str,
        method: &str,
        params: &Instance,
    ) -> Result<Instance> {
        let request = self.service.invoke_static(class, method, params)?;
        let response = self.http.send(request).await?;
        self.service.parse_method_result(&view(&response))
    }

    /// Calls `method` on the instance of `class` with `key`
    /// (`SMS_Collection('PS100042').AddMembershipRule`).
    pub async fn invoke(
        &mut self,
        class: &str,
        key: &Key,
        method: &str,
        params: &Instance,
    ) -> Result<Instance> {
        let request = self.service.invoke(class, key, method, params)?;
        let response = self.http.send(request).await?;
        self.service.parse_method_result(&view(&response))
    }
}

/// WMI over WS-Management: the provider's namespace through WinRM
/// (`http://<provider>:5985/wsman`, sealed with NTLM, or `https://…:5986`).
#[derive(Debug)]
pub struct WsManClient {
    ws: WsMan,
    http: HttpSession,
}

/// An enumeration being pulled batch by batch; memory holds one batch.
/// Dropping it before the end leaves the context to expire on the
/// server; [`WsRows::release`] frees it at once.
#[derive(Debug)]
pub struct WsRows {
    enumeration: Enumeration,
}

impl WsRows {
    /// The next batch's instances; `None` at the end.
    pub async fn next_batch(&mut self, client: &mut WsManClient) -> Result<Option<Vec<Instance>>> {
        loop {
            let Some(request) = self.enumeration.next_request(&client.ws, &message_id()?)? else {
                return Ok(None);
            };
            let response = client.http.send(request).await?;
            let response = view(&response);
            let batch = self.enumeration.handle_response(&client.ws, &response)?;
            if batch.is_empty() && !self.enumeration.is_done() {
                // An empty batch (the operation timeout passed on a slow
                // provider): pull again; the enumeration bounds how often.
                continue;
            }
            let items = batch.items().collect::<Result<Vec<_>>>()?;
            if items.is_empty() && self.enumeration.is_done() {
                return Ok(None);
            }
            return Ok(Some(items));
        }
    }

    /// Ends the enumeration early and releases its context.
    pub async fn release(mut self, client: &mut WsManClient) -> Result<()> {
        self.enumeration.stop();
        while let Some(request) = self.enumeration.next_request(&client.ws, &message_id()?)? {
            let response = client.http.send(request).await?;
            self.enumeration
                .handle_response(&client.ws, &view(&response))?;
        }
        Ok(())
    }
}

/// A fresh `uuid:` message ID from the operating system's CSPRNG.
fn message_id() -> Result<MessageId> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| Error::Transport(format!("no randomness: {e}")))?;
    Ok(MessageId::from_bytes(bytes))
}

impl WsManClient {
    /// A client for the WinRM endpoint `endpoint`
    /// (`http://cm01.contoso.com:5985/wsman`) and the site `site_code`'s
    /// namespace `root\sms\site_<code>`. Over plain HTTP, NTLM seals every
    /// message.
    pub fn new(endpoint: &str, site_code: &str, config: ClientConfig) -> Result<Self> {
        let ws = WsMan::for_site(endpoint, site_code)?;
        let http = HttpSession::new(endpoint, config, Sealing::WinRm)?;
        Ok(Self { ws, http })
    }

    /// A client for another WMI namespace (`root\cimv2`).
    pub fn for_namespace(endpoint: &str, namespace: &str, config: ClientConfig) -> Result<Self> {
        let ws = WsMan::new(endpoint, namespace)?;
        let http = HttpSession::new(endpoint, config, Sealing::WinRm)?;
        Ok(Self { ws, http })
    }

    /// The envelope builder, to change its settings (`MaxElements`,
    /// `OperationTimeout`, locale).
    pub fn wsman(&mut self) -> &mut WsMan {
        &mut self.ws
    }

    /// Whether bodies are sealed on this connection.
    pub fn sealing(&self) -> Sealing {
        self.http.sealing()
    }

    /// Enumerates every instance of `class`.
    pub fn enumerate(&self, class: &str) -> Result<WsRows> {
        Ok(WsRows {
            enumeration: Enumeration::class(&self.ws, class)?,
        })
    }

    /// Enumerates the answer to a WQL query (check it with
    /// [`crate::wql::parse`] or build it with [`crate::wql::Select`]).
    pub fn query(&self, wql: &str) -> Result<WsRows> {
        Ok(WsRows {
            enumeration: Enumeration::wql(&self.ws, wql)?,
        })
    }

    /// Every instance the query answers (for small answers).
    pub async fn query_all(&mut self, wql: &str) -> Result<Vec<Instance>> {
        let mut rows = self.query(wql)?;
        let mut all = Vec::new();
        while let Some(batch) = rows.next_batch(self).await? {
            all.extend(batch);
        }
        Ok(all)
    }

    /// `Get` the instance of `class` whose keys are `selectors`.
    pub async fn get(&mut self, class: &str, selectors: &[(&str, &str)]) -> Result<Instance> {
        let request = self.ws.get(class, selectors, &message_id()?)?;
        let response = self.http.send(request).await?;
        self.ws.parse_get(&view(&response))
    }

    /// `Put` the properties of `instance` on the instance whose keys are
    /// `selectors`; the provider's answer, when it sends the instance back.
    pub async fn put(
        &mut self,
        class: &str,
        selectors: &[(&str, &str)],
        instance: &Instance,
    ) -> Result<Option<Instance>> {
        let request = self.ws.put(class, selectors, instance, &message_id()?)?;
        let response = self.http.send(request).await?;
        self.ws.parse_put(&view(&response))
    }

    /// `Create` an instance; the new instance's selectors.
    pub async fn create(&mut self, class: &str, instance: &Instance) -> Result<ResourceCreated> {
        let request = self.ws.create(class, instance, &message_id()?)?;
        let response = self.http.send(request).await?;
        self.ws.parse_create(&view(&response))
    }

    /// `Delete` the instance whose keys are `selectors`.
    pub async fn delete(&mut self, class: &str, selectors: &[(&str, &str)]) -> Result<()> {
        let request = self.ws.delete(class, selectors, &message_id()?)?;
        let response = self.http.send(request).await?;
        self.ws.parse_delete(&view(&response))
    }

    /// Invokes `method` (static when `selectors` is empty); the
    /// `<Method>_OUTPUT` parameters.
    pub async fn invoke(
        &mut self,
        class: &str,
        method: &str,
        selectors: &[(&str, &str)],
        input: &Instance,
    ) -> Result<Instance> {
        let request = self
            .ws
            .invoke(class, method, selectors, input, &message_id()?)?;
        let response = self.http.send(request).await?;
        self.ws.parse_invoke(class, method, &view(&response))
    }
}
