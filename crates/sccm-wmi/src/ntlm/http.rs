//! The HTTP side of NTLM (MS-NTHT, RFC 4559): `Authorization` values out,
//! `WWW-Authenticate` values in, over one connection.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::initiator::{Initiator, Nonces};
use super::session::Session;
use super::{NtlmError, spnego};

/// The longest `WWW-Authenticate` token read, in base64 characters.
const MAX_TOKEN_CHARS: usize = 64 * 1024;

/// The HTTP authentication scheme.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub enum AuthScheme {
    /// `Negotiate`: NTLM inside SPNEGO (RFC 4559), what WinRM and IIS
    /// offer by default.
    #[default]
    Negotiate,
    /// `NTLM`: raw NTLM messages.
    Ntlm,
}

impl AuthScheme {
    /// The scheme's name in HTTP headers.
    pub fn name(self) -> &'static str {
        match self {
            Self::Negotiate => "Negotiate",
            Self::Ntlm => "NTLM",
        }
    }
}

/// One challenge from a `WWW-Authenticate` header.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct WwwAuthenticate<'a> {
    /// The scheme, as the server wrote it.
    pub scheme: &'a str,
    /// The `token68` (a base64 token), if the challenge has one.
    pub token: Option<&'a str>,
}

/// Splits `WWW-Authenticate` values into challenges (RFC 9110 11.6.1).
/// Several challenges may share one value, comma-separated, and the header
/// may come several times. Auth-params (`realm="WSMAN"`) are skipped; a
/// comma inside a quoted string does not split.
pub fn parse_www_authenticate<'a, I>(values: I) -> Vec<WwwAuthenticate<'a>>
where
    I: IntoIterator<Item = &'a str>,
{
    let mut out = Vec::new();
    for value in values {
        for element in split_commas(value) {
            let element = element.trim();
            if element.is_empty() {
                continue;
            }
            let (first, rest) = match element.split_once([' ', '\t']) {
                Some((f, r)) => (f, r.trim()),
                None => (element, ""),
            };
            if first.contains('=') {
                // An auth-param of the previous challenge.
                continue;
            }
            let token = (!rest.is_empty() && is_token68(rest)).then_some(rest);
            out.push(WwwAuthenticate {
                scheme: first,
                token,
            });
        }
    }
    out
}

/// Splits at commas outside quoted strings.
fn split_commas(value: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&value[start..]);
    parts
}

/// `token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_token68(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

/// Where an [`HttpAuth`] is.
#[derive(Debug)]
enum State {
    Start,
    NegotiateSent,
    AuthenticateSent(Box<Session>),
    Done,
}

/// The client's side of HTTP NTLM authentication on one connection, as a
/// state machine without I/O:
///
/// 1. [`first_authorization`](Self::first_authorization): the
///    `Authorization` value of the first request (`Negotiate <base64>` or
///    `NTLM <base64>`);
/// 2. [`challenge_authorization`](Self::challenge_authorization): given the
///    `WWW-Authenticate` values of the server's 401, the `Authorization`
///    value of the second request;
/// 3. [`finish`](Self::finish): given the status and `WWW-Authenticate`
///    values of the answer to it, the [`Session`] — or
///    [`NtlmError::CredentialsRejected`] when that answer is 401 again.
///
/// With `Negotiate`, the second token carries a `mechListMIC`, and the
/// server's `mechListMIC` in the last answer, when present, is verified
/// ([`server_mic_verified`](Self::server_mic_verified)).
#[derive(Debug)]
pub struct HttpAuth {
    scheme: AuthScheme,
    initiator: Initiator,
    state: State,
    server_mic_verified: bool,
}

impl HttpAuth {
    /// An exchange with `scheme` for `initiator` (with its SPN and channel
    /// bindings already set).
    pub fn new(scheme: AuthScheme, initiator: Initiator) -> Self {
        Self {
            scheme,
            initiator,
            state: State::Start,
            server_mic_verified: false,
        }
    }

    /// The scheme in use.
    pub fn scheme(&self) -> AuthScheme {
        self.scheme
    }

    /// The account being authenticated (`DOMAIN\user`), for error messages.
    pub fn account(&self) -> String {
        self.initiator.account()
    }

    /// Whether the server's last answer carried a `mechListMIC` that
    /// verified (SPNEGO's check that the negotiation was not tampered
    /// with). Always `false` with [`AuthScheme::Ntlm`].
    pub fn server_mic_verified(&self) -> bool {
        self.server_mic_verified
    }

    /// The `Authorization` value of the first request.
    pub fn first_authorization(&mut self) -> Result<String, NtlmError> {
        if !matches!(self.state, State::Start) {
            return Err(NtlmError::OutOfOrder("the exchange has already started"));
        }
        let negotiate = self.initiator.negotiate()?;
        let token = match self.scheme {
            AuthScheme::Negotiate => spnego::initial_token(&negotiate),
            AuthScheme::Ntlm => negotiate,
        };
        self.state = State::NegotiateSent;
        Ok(self.header(&token))
    }

    /// Reads the `WWW-Authenticate` values of the server's 401 (our scheme
    /// with a token: the CHALLENGE) and returns the `Authorization` value of
    /// the second request.
    pub fn challenge_authorization<'a, I>(
        &mut self,
        www_authenticate: I,
        nonces: &Nonces,
        now_filetime: u64,
    ) -> Result<String, NtlmError>
    where
        I: IntoIterator<Item = &'a str>,
    {
        if !matches!(self.state, State::NegotiateSent) {
            return Err(NtlmError::OutOfOrder(
                "a challenge before the first request or after the second",
            ));
        }
        self.state = State::Done;
        let values: Vec<&str> = www_authenticate.into_iter().collect();
        let Some(token) = self.our_token(values.iter().copied())? else {
            // Our scheme again without a token: the server did not take up
            // our NEGOTIATE.
            return Err(NtlmError::NoChallenge {
                scheme: self.scheme.name(),
                offered: offered(&parse_www_authenticate(values)),
            });
        };
        let challenge = match self.scheme {
            AuthScheme::Negotiate => spnego::challenge_from(&token)?,
            AuthScheme::Ntlm => token,
        };
        let (authenticate, mut session) =
            self.initiator
                .authenticate(&challenge, nonces, now_filetime)?;
        let token = match self.scheme {
            AuthScheme::Negotiate => spnego::authenticate_token(&authenticate, &mut session),
            AuthScheme::Ntlm => authenticate,
        };
        self.state = State::AuthenticateSent(Box::new(session));
        Ok(self.header(&token))
    }

    /// Reads the answer to the second request: 401 means the server refused
    /// the credentials ([`NtlmError::CredentialsRejected`]); any other status
    /// completes the exchange, after checking the server's final SPNEGO
    /// token when there is one.
    pub fn finish<'a, I>(&mut self, status: u16, www_authenticate: I) -> Result<Session, NtlmError>
    where
        I: IntoIterator<Item = &'a str>,
    {
        let State::AuthenticateSent(mut session) = core::mem::replace(&mut self.state, State::Done)
        else {
            return Err(NtlmError::OutOfOrder("finish before the second request"));
        };
        if status == 401 {
            return Err(NtlmError::CredentialsRejected);
        }
        let token = match self.our_token(www_authenticate) {
            Ok(t) => t,
            // Only our scheme's token matters on success.
            Err(NtlmError::NoChallenge { .. }) => None,
            Err(e) => return Err(e),
        };
        if let (AuthScheme::Negotiate, Some(token)) = (self.scheme, token) {
            self.server_mic_verified = spnego::finish(&token, &mut session)?;
        }
        Ok(*session)
    }

    fn header(&self, token: &[u8]) -> String {
        format!("{} {}", self.scheme.name(), STANDARD.encode(token))
    }

    /// Our scheme's token: `Ok(None)` when the scheme is offered without a
    /// token, [`NtlmError::NoChallenge`] when it is not offered.
    fn our_token<'a, I>(&self, values: I) -> Result<Option<Vec<u8>>, NtlmError>
    where
        I: IntoIterator<Item = &'a str>,
    {
        let challenges = parse_www_authenticate(values);
        let name = self.scheme.name();
        let Some(ours) = challenges
            .iter()
            .filter(|c| c.scheme.eq_ignore_ascii_case(name))
            .max_by_key(|c| c.token.is_some())
        else {
            return Err(NtlmError::NoChallenge {
                scheme: name,
                offered: offered(&challenges),
            });
        };
        let Some(token) = ours.token else {
            return Ok(None);
        };
        if token.len() > MAX_TOKEN_CHARS {
            return Err(NtlmError::TooLarge {
                what: "a WWW-Authenticate token, in characters",
                limit: MAX_TOKEN_CHARS,
            });
        }
        STANDARD
            .decode(token)
            .map(Some)
            .map_err(|_| NtlmError::Malformed {
                message: "WWW-Authenticate",
                offset: 0,
                reason: "the token is not base64",
            })
    }
}

/// The offered schemes, comma-separated.
fn offered(challenges: &[WwwAuthenticate<'_>]) -> String {
    challenges
        .iter()
        .map(|c| c.scheme)
        .collect::<Vec<_>>()
        .join(", ")
}
