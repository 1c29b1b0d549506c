//! SPNEGO (RFC 4178, MS-SPNG) as Windows' HTTP `Negotiate` scheme uses it
//! with NTLM: the client's `NegTokenInit` inside the GSS-API
//! InitialContextToken framing (RFC 2743 3.1), the `NegTokenResp` tokens
//! both ways, and the `mechListMIC`.
//!
//! ```text
//! NegotiationToken ::= CHOICE {
//!     negTokenInit    [0] NegTokenInit,
//!     negTokenResp    [1] NegTokenResp }
//! NegTokenInit ::= SEQUENCE {
//!     mechTypes       [0] MechTypeList,
//!     reqFlags        [1] ContextFlags  OPTIONAL,
//!     mechToken       [2] OCTET STRING  OPTIONAL,
//!     mechListMIC     [3] OCTET STRING  OPTIONAL, ... }
//! NegTokenResp ::= SEQUENCE {
//!     negState        [0] ENUMERATED { accept-completed (0),
//!                         accept-incomplete (1), reject (2),
//!                         request-mic (3) } OPTIONAL,
//!     supportedMech   [1] MechType      OPTIONAL,
//!     responseToken   [2] OCTET STRING  OPTIONAL,
//!     mechListMIC     [3] OCTET STRING  OPTIONAL, ... }
//! ```
//!
//! Decoding accepts BER (normalised to DER with bounded depth and element
//! count first), tokens of at most [`MAX_TOKEN_LEN`] bytes, and at most 16
//! mechanism types. `reqFlags` and MS-SPNG's `negHints` are skipped.

use core::fmt;

use pippin_ber::{Reader, Tlv, push_tlv};

use super::NtlmError;
use super::session::Session;

/// The SPNEGO mechanism, 1.3.6.1.5.5.2 (DER contents).
pub const SPNEGO_OID: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x02];

/// NTLMSSP, 1.3.6.1.4.1.311.2.2.10 (DER contents).
pub const NTLMSSP_OID: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a];

/// The largest SPNEGO token read (64 KiB).
pub const MAX_TOKEN_LEN: usize = 64 * 1024;

/// The most mechanism types a `NegTokenInit` may list.
const MAX_MECH_TYPES: usize = 16;

/// An object identifier, as its DER contents octets.
#[derive(Clone, Eq, PartialEq)]
pub struct Oid(pub Vec<u8>);

impl Oid {
    /// NTLMSSP.
    pub fn ntlmssp() -> Self {
        Self(NTLMSSP_OID.to_vec())
    }
}

impl fmt::Display for Oid {
    /// Dotted decimal; arcs too large for 64 bits, or a truncated last arc,
    /// are shown as `?`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut arcs = Vec::new();
        let mut value: Option<u64> = Some(0);
        let mut pending = false;
        for &b in &self.0 {
            value = value
                .and_then(|v| v.checked_mul(128))
                .map(|v| v | u64::from(b & 0x7f));
            pending = b & 0x80 != 0;
            if !pending {
                arcs.push(value);
                value = Some(0);
            }
        }
        if pending {
            arcs.push(None);
        }
        let show = |a: Option<u64>| a.map_or_else(|| "?".to_owned(), |v| v.to_string());
        for (i, arc) in arcs.into_iter().enumerate() {
            if i == 0 {
                match arc {
                    Some(v) if v < 80 => write!(f, "{}.{}", v / 40, v % 40)?,
                    Some(v) => write!(f, "2.{}", v - 80)?,
                    None => f.write_str("?")?,
                }
            } else {
                write!(f, ".{}", show(arc))?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Oid({self})")
    }
}

/// `negState`.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum NegState {
    /// `accept-completed` (0).
    AcceptCompleted,
    /// `accept-incomplete` (1).
    AcceptIncomplete,
    /// `reject` (2).
    Reject,
    /// `request-mic` (3).
    RequestMic,
}

impl NegState {
    fn code(self) -> u8 {
        match self {
            Self::AcceptCompleted => 0,
            Self::AcceptIncomplete => 1,
            Self::Reject => 2,
            Self::RequestMic => 3,
        }
    }
}

/// `NegTokenInit`: the client's first token.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct NegTokenInit {
    /// `mechTypes`, the client's mechanisms in order of preference.
    pub mech_types: Vec<Oid>,
    /// `mechToken`, the first mechanism's first token.
    pub mech_token: Option<Vec<u8>>,
    /// `mechListMIC`.
    pub mech_list_mic: Option<Vec<u8>>,
}

impl NegTokenInit {
    /// A `NegTokenInit` offering NTLM only, carrying the NTLM NEGOTIATE.
    pub fn ntlm(negotiate: &[u8]) -> Self {
        Self {
            mech_types: vec![Oid::ntlmssp()],
            mech_token: Some(negotiate.to_vec()),
            mech_list_mic: None,
        }
    }

    /// The token inside the InitialContextToken framing: `0x60`, the SPNEGO
    /// OID, then `[0] NegTokenInit`.
    pub fn encode(&self) -> Vec<u8> {
        let mut seq = Vec::new();
        push_tlv(&mut seq, 0xa0, &mech_type_list(&self.mech_types));
        if let Some(t) = &self.mech_token {
            push_explicit_octets(&mut seq, 0xa2, t);
        }
        if let Some(m) = &self.mech_list_mic {
            push_explicit_octets(&mut seq, 0xa3, m);
        }
        let mut init = Vec::new();
        push_tlv(&mut init, 0x30, &seq);
        let mut body = Vec::new();
        push_tlv(&mut body, 0x06, SPNEGO_OID);
        push_tlv(&mut body, 0xa0, &init);
        let mut out = Vec::new();
        push_tlv(&mut out, 0x60, &body);
        out
    }
}

/// `NegTokenResp`: the server's answers and the client's later tokens.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct NegTokenResp {
    /// `negState`.
    pub neg_state: Option<NegState>,
    /// `supportedMech`.
    pub supported_mech: Option<Oid>,
    /// `responseToken`.
    pub response_token: Option<Vec<u8>>,
    /// `mechListMIC`.
    pub mech_list_mic: Option<Vec<u8>>,
}

impl NegTokenResp {
    /// Reads a `[1] NegTokenResp` token.
    pub fn decode(input: &[u8]) -> Result<Self, NtlmError> {
        match NegotiationToken::decode(input)? {
            NegotiationToken::Resp(r) => Ok(r),
            NegotiationToken::Init(_) => Err(spnego(
                0,
                "a NegTokenInit where a NegTokenResp was expected",
            )),
        }
    }

    /// Writes the token as `[1] NegTokenResp`.
    pub fn encode(&self) -> Vec<u8> {
        let mut seq = Vec::new();
        if let Some(s) = self.neg_state {
            let mut e = Vec::new();
            push_tlv(&mut e, 0x0a, &[s.code()]);
            push_tlv(&mut seq, 0xa0, &e);
        }
        if let Some(m) = &self.supported_mech {
            let mut o = Vec::new();
            push_tlv(&mut o, 0x06, &m.0);
            push_tlv(&mut seq, 0xa1, &o);
        }
        if let Some(t) = &self.response_token {
            push_explicit_octets(&mut seq, 0xa2, t);
        }
        if let Some(m) = &self.mech_list_mic {
            push_explicit_octets(&mut seq, 0xa3, m);
        }
        let mut resp = Vec::new();
        push_tlv(&mut resp, 0x30, &seq);
        let mut out = Vec::new();
        push_tlv(&mut out, 0xa1, &resp);
        out
    }
}

/// Either SPNEGO token.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum NegotiationToken {
    /// `negTokenInit`.
    Init(NegTokenInit),
    /// `negTokenResp`.
    Resp(NegTokenResp),
}

impl NegotiationToken {
    /// Reads a token: a `NegTokenInit` with or without the
    /// InitialContextToken framing, or a `NegTokenResp`.
    pub fn decode(input: &[u8]) -> Result<Self, NtlmError> {
        if input.len() > MAX_TOKEN_LEN {
            return Err(NtlmError::TooLarge {
                what: "a SPNEGO token",
                limit: MAX_TOKEN_LEN,
            });
        }
        let mut limits = pippin_ber::Limits::default();
        limits.max_depth(16).max_elements(512);
        let der = pippin_ber::to_der_with(input, &limits).map_err(ber)?;
        let mut top = Reader::new(&der);
        let mut outer = top.read().map_err(ber)?;
        if !top.is_empty() {
            return Err(spnego(top.offset(), "data after the token"));
        }
        if outer.tag == 0x60 {
            let mut framed = top.enter(&outer);
            let oid = framed.read().map_err(ber)?;
            if oid.tag != 0x06 || oid.value != SPNEGO_OID {
                return Err(spnego(oid.offset, "not a SPNEGO token (thisMech)"));
            }
            outer = framed.read().map_err(ber)?;
            if !framed.is_empty() {
                return Err(spnego(framed.offset(), "data after innerContextToken"));
            }
            if outer.tag != 0xa0 {
                return Err(spnego(outer.offset, "framed token is not a NegTokenInit"));
            }
        }
        let mut choice = top.enter(&outer);
        let seq = expect(&mut choice, 0x30, "expected a SEQUENCE")?;
        if !choice.is_empty() {
            return Err(spnego(choice.offset(), "data after the SEQUENCE"));
        }
        let fields = context_fields(&choice, &seq)?;
        match outer.tag {
            0xa0 => decode_init(&choice, &fields).map(Self::Init),
            0xa1 => decode_resp(&choice, &fields).map(Self::Resp),
            _ => Err(spnego(
                outer.offset,
                "neither NegTokenInit nor NegTokenResp",
            )),
        }
    }
}

/// The DER `MechTypeList` (`SEQUENCE OF MechType`) the `mechListMIC` is
/// computed over.
pub fn mech_type_list(mech_types: &[Oid]) -> Vec<u8> {
    let mut oids = Vec::new();
    for m in mech_types {
        push_tlv(&mut oids, 0x06, &m.0);
    }
    let mut out = Vec::new();
    push_tlv(&mut out, 0x30, &oids);
    out
}

/// The client's first SPNEGO token: NTLM only, carrying `negotiate`.
pub fn initial_token(negotiate: &[u8]) -> Vec<u8> {
    NegTokenInit::ntlm(negotiate).encode()
}

/// Reads the server's first `NegTokenResp` and returns the NTLM CHALLENGE
/// inside. `reject` is [`NtlmError::CredentialsRejected`]; a
/// `supportedMech` other than NTLM is [`NtlmError::MechanismNotOffered`].
pub fn challenge_from(token: &[u8]) -> Result<Vec<u8>, NtlmError> {
    let resp = NegTokenResp::decode(token)?;
    if resp.neg_state == Some(NegState::Reject) {
        return Err(NtlmError::CredentialsRejected);
    }
    if let Some(mech) = &resp.supported_mech
        && mech.0 != NTLMSSP_OID
    {
        return Err(NtlmError::MechanismNotOffered(mech.to_string()));
    }
    resp.response_token
        .ok_or(spnego(0, "no responseToken in the server's answer"))
}

/// The client's second token: AUTHENTICATE and the `mechListMIC` over our
/// `mechTypes` (MS-SPNG 3.1.5.1), signed with `session`, whose outgoing RC4
/// handle then restarts.
pub fn authenticate_token(authenticate: &[u8], session: &mut Session) -> Vec<u8> {
    let mic = session.sign_mech_list(&mech_type_list(&[Oid::ntlmssp()]));
    NegTokenResp {
        neg_state: None,
        supported_mech: None,
        response_token: Some(authenticate.to_vec()),
        mech_list_mic: Some(mic.to_vec()),
    }
    .encode()
}

/// Reads the server's last `NegTokenResp`: `accept-completed` (or no
/// state), and its `mechListMIC`, verified with `session` (whose incoming
/// RC4 handle then restarts). Returns whether a `mechListMIC` was there.
pub fn finish(token: &[u8], session: &mut Session) -> Result<bool, NtlmError> {
    let resp = NegTokenResp::decode(token)?;
    match resp.neg_state {
        Some(NegState::Reject) => return Err(NtlmError::CredentialsRejected),
        Some(NegState::AcceptIncomplete | NegState::RequestMic) => {
            return Err(NtlmError::OutOfOrder(
                "the server did not complete SPNEGO after AUTHENTICATE",
            ));
        }
        Some(NegState::AcceptCompleted) | None => {}
    }
    match resp.mech_list_mic {
        Some(mic) => {
            session.verify_mech_list(&mech_type_list(&[Oid::ntlmssp()]), &mic)?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// The context-tagged fields `[0]`..`[4]` of a SEQUENCE, each at most once,
/// in increasing order.
fn context_fields<'a>(r: &Reader<'a>, seq: &Tlv<'a>) -> Result<[Option<Tlv<'a>>; 5], NtlmError> {
    let mut fields: [Option<Tlv<'a>>; 5] = [None; 5];
    let mut inner = r.enter(seq);
    let mut last = None;
    while !inner.is_empty() {
        let f = inner.read().map_err(ber)?;
        let n = match f.tag {
            0xa0..=0xa4 => usize::from(f.tag - 0xa0),
            _ => return Err(spnego(f.offset, "unexpected field")),
        };
        if last.is_some_and(|l| l >= n) {
            return Err(spnego(f.offset, "fields out of order or repeated"));
        }
        last = Some(n);
        fields[n] = Some(f);
    }
    Ok(fields)
}

fn decode_init<'a>(r: &Reader<'a>, f: &[Option<Tlv<'a>>; 5]) -> Result<NegTokenInit, NtlmError> {
    let Some(types) = &f[0] else {
        return Err(spnego(0, "NegTokenInit without mechTypes"));
    };
    let mut explicit = r.enter(types);
    let list = expect(&mut explicit, 0x30, "mechTypes is not a SEQUENCE")?;
    let mut items = explicit.enter(&list);
    let mut mech_types = Vec::new();
    while !items.is_empty() {
        if mech_types.len() == MAX_MECH_TYPES {
            return Err(spnego(items.offset(), "more than 16 mechTypes"));
        }
        let oid = expect(&mut items, 0x06, "a mechType is not an OID")?;
        mech_types.push(Oid(oid.value.to_vec()));
    }
    let mech_token = f[2].as_ref().map(|t| explicit_octets(r, t)).transpose()?;
    // [3] is mechListMIC in RFC 4178 and negHints (a SEQUENCE) in
    // MS-SPNG's NegTokenInit2, whose mechListMIC is [4].
    let mut mech_list_mic = None;
    if let Some(t) = &f[3]
        && r.enter(t).peek_tag() != Some(0x30)
    {
        mech_list_mic = Some(explicit_octets(r, t)?);
    }
    if let Some(t) = &f[4] {
        mech_list_mic = Some(explicit_octets(r, t)?);
    }
    Ok(NegTokenInit {
        mech_types,
        mech_token,
        mech_list_mic,
    })
}

fn decode_resp<'a>(r: &Reader<'a>, f: &[Option<Tlv<'a>>; 5]) -> Result<NegTokenResp, NtlmError> {
    if let Some(t) = &f[4] {
        return Err(spnego(t.offset, "unexpected field [4] in NegTokenResp"));
    }
    let neg_state = match &f[0] {
        Some(t) => {
            let mut inner = r.enter(t);
            let e = expect(&mut inner, 0x0a, "negState is not an ENUMERATED")?;
            Some(match e.value {
                [0] => NegState::AcceptCompleted,
                [1] => NegState::AcceptIncomplete,
                [2] => NegState::Reject,
                [3] => NegState::RequestMic,
                _ => return Err(spnego(e.offset, "unknown negState")),
            })
        }
        None => None,
    };
    let supported_mech = match &f[1] {
        Some(t) => {
            let mut inner = r.enter(t);
            let oid = expect(&mut inner, 0x06, "supportedMech is not an OID")?;
            Some(Oid(oid.value.to_vec()))
        }
        None => None,
    };
    Ok(NegTokenResp {
        neg_state,
        supported_mech,
        response_token: f[2].as_ref().map(|t| explicit_octets(r, t)).transpose()?,
        mech_list_mic: f[3].as_ref().map(|t| explicit_octets(r, t)).transpose()?,
    })
}

/// Reads one element of `tag` that is the only thing in its parent.
fn expect<'a>(r: &mut Reader<'a>, tag: u8, reason: &'static str) -> Result<Tlv<'a>, NtlmError> {
    let offset = r.offset();
    let t = r.read().map_err(ber)?;
    if t.tag != tag {
        return Err(spnego(offset, reason));
    }
    Ok(t)
}

/// The OCTET STRING inside an explicitly tagged field.
fn explicit_octets<'a>(r: &Reader<'a>, field: &Tlv<'a>) -> Result<Vec<u8>, NtlmError> {
    let mut inner = r.enter(field);
    let o = expect(&mut inner, 0x04, "expected an OCTET STRING")?;
    if !inner.is_empty() {
        return Err(spnego(inner.offset(), "data after the OCTET STRING"));
    }
    Ok(o.value.to_vec())
}

fn push_explicit_octets(out: &mut Vec<u8>, tag: u8, value: &[u8]) {
    let mut inner = Vec::with_capacity(value.len() + 4);
    push_tlv(&mut inner, 0x04, value);
    push_tlv(out, tag, &inner);
}

fn spnego(offset: usize, reason: &'static str) -> NtlmError {
    NtlmError::Spnego { offset, reason }
}

fn ber(e: pippin_ber::Error) -> NtlmError {
    spnego(e.offset, "invalid DER")
}
