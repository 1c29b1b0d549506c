//! The SCEP signed attributes (RFC 8894 §3.2.1) and their codec.
//!
//! ```text
//! transactionID  ::= PrintableString          -- id-transactionID
//! messageType    ::= PrintableString (decimal) -- id-messageType
//! pkiStatus      ::= PrintableString (decimal) -- id-pkiStatus
//! failInfo       ::= PrintableString (decimal) -- id-failInfo
//! senderNonce    ::= OCTET STRING (SIZE(16))   -- id-senderNonce
//! recipientNonce ::= OCTET STRING (SIZE(16))   -- id-recipientNonce
//! ```
//!
//! Each travels in a CMS `Attribute ::= SEQUENCE { attrType OBJECT
//! IDENTIFIER, attrValues SET OF AttributeValue }` with exactly one value, in
//! the `signedAttrs` of the `pkiMessage`'s `SignerInfo` (RFC 5652 §5.3).

use core::fmt;

use crate::error::{Error, ParseErrorKind, Result, Structure};
use crate::oid;
use crate::tlv::{self, Reader, Tlv, tag};
use crate::{Decode, Encode};

/// The longest transaction ID accepted, in bytes.
pub const MAX_TRANSACTION_ID_LEN: usize = 256;

/// Most attributes accepted in one `signedAttrs`.
pub const MAX_ATTRIBUTES: usize = 32;

/// `messageType` (RFC 8894 §3.2.1.2).
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum MessageType {
    /// `CertRep` (3): response to a certificate or CRL request.
    CertRep,
    /// `RenewalReq` (17): PKCS #10 request to renew an existing certificate.
    RenewalReq,
    /// `UpdateReq` (18): PKCS #10 request to update a certificate issued by
    /// another CA (earlier drafts; not served here).
    UpdateReq,
    /// `PKCSReq` (19): PKCS #10 certification request.
    PkcsReq,
    /// `CertPoll` (20), called `GetCertInitial` in earlier drafts: poll for
    /// the outcome of a pending request.
    CertPoll,
    /// `GetCert` (21): retrieve a certificate.
    GetCert,
    /// `GetCRL` (22): retrieve a CRL.
    GetCrl,
    /// Any other value.
    Other(u32),
}

impl MessageType {
    /// From the decimal code.
    pub fn from_code(code: u32) -> Self {
        match code {
            3 => Self::CertRep,
            17 => Self::RenewalReq,
            18 => Self::UpdateReq,
            19 => Self::PkcsReq,
            20 => Self::CertPoll,
            21 => Self::GetCert,
            22 => Self::GetCrl,
            other => Self::Other(other),
        }
    }

    /// The decimal code.
    pub fn code(self) -> u32 {
        match self {
            Self::CertRep => 3,
            Self::RenewalReq => 17,
            Self::UpdateReq => 18,
            Self::PkcsReq => 19,
            Self::CertPoll => 20,
            Self::GetCert => 21,
            Self::GetCrl => 22,
            Self::Other(code) => code,
        }
    }
}

/// `pkiStatus` (RFC 8894 §3.2.1.3).
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum PkiStatus {
    /// `SUCCESS` (0): request granted.
    Success,
    /// `FAILURE` (2): request rejected; `failInfo` says why.
    Failure,
    /// `PENDING` (3): request pending for manual approval.
    Pending,
}

impl PkiStatus {
    /// The decimal code.
    pub fn code(self) -> u32 {
        match self {
            Self::Success => 0,
            Self::Failure => 2,
            Self::Pending => 3,
        }
    }

    /// From the decimal code.
    pub fn from_code(code: u32) -> Option<Self> {
        match code {
            0 => Some(Self::Success),
            2 => Some(Self::Failure),
            3 => Some(Self::Pending),
            _ => None,
        }
    }
}

/// `failInfo` (RFC 8894 §3.2.1.4).
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum FailInfo {
    /// `badAlg` (0): unrecognised or unsupported algorithm.
    BadAlg,
    /// `badMessageCheck` (1): integrity check (signature verification or
    /// decryption of the CMS message) failed.
    BadMessageCheck,
    /// `badRequest` (2): transaction not permitted or supported.
    BadRequest,
    /// `badTime` (3): the `signingTime` was not close enough to the server's time.
    BadTime,
    /// `badCertId` (4): no certificate matches the criteria given.
    BadCertId,
}

impl FailInfo {
    /// The decimal code.
    pub fn code(self) -> u32 {
        match self {
            Self::BadAlg => 0,
            Self::BadMessageCheck => 1,
            Self::BadRequest => 2,
            Self::BadTime => 3,
            Self::BadCertId => 4,
        }
    }

    /// From the decimal code.
    pub fn from_code(code: u32) -> Option<Self> {
        match code {
            0 => Some(Self::BadAlg),
            1 => Some(Self::BadMessageCheck),
            2 => Some(Self::BadRequest),
            3 => Some(Self::BadTime),
            4 => Some(Self::BadCertId),
            _ => None,
        }
    }
}

/// `transactionID` (RFC 8894 §3.2.1.1): an opaque string chosen by the
/// requester, the same for every message of one enrolment.
///
/// Holds 1 to [`MAX_TRANSACTION_ID_LEN`] printable ASCII characters.
/// RFC 8894 calls for a `PrintableString`; clients that send an
/// `IA5String` or `UTF8String` with ASCII contents are accepted too, and
/// an ID with characters outside the `PrintableString` set (`_`, `@`, ...)
/// is sent back as an `IA5String`.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct TransactionId(String);

impl TransactionId {
    /// Checks and wraps a transaction ID.
    pub fn new(id: impl Into<String>) -> Result<Self> {
        let id = id.into();
        if id.is_empty()
            || id.len() > MAX_TRANSACTION_ID_LEN
            || !id.bytes().all(|b| (0x20..0x7f).contains(&b))
        {
            return Err(Error::InvalidAttribute("transactionID"));
        }
        Ok(Self(id))
    }

    /// The ID.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TransactionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `senderNonce` / `recipientNonce` (RFC 8894 §3.2.1.5): 16 random bytes.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub struct Nonce(pub [u8; 16]);

impl Nonce {
    /// A fresh nonce from `rng`.
    pub fn random<R: rand_core::CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut n = [0u8; 16];
        rng.fill_bytes(&mut n);
        Self(n)
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

/// The SCEP attributes of one `pkiMessage`.
///
/// Other attributes (`contentType`, `messageDigest`, `signingTime`, ...)
/// are skipped when decoding and not written when encoding; the CMS layer
/// handles them.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct ScepAttributes {
    /// `messageType` (always present).
    pub message_type: MessageType,
    /// `transactionID` (always present).
    pub transaction_id: TransactionId,
    /// `senderNonce` (present in requests and, from this server, responses).
    pub sender_nonce: Option<Nonce>,
    /// `recipientNonce` (responses: the request's `senderNonce`).
    pub recipient_nonce: Option<Nonce>,
    /// `pkiStatus` (responses).
    pub pki_status: Option<PkiStatus>,
    /// `failInfo` (responses whose status is `FAILURE`).
    pub fail_info: Option<FailInfo>,
}

impl ScepAttributes {
    /// Encodes each attribute as a CMS `Attribute`, in no particular order.
    pub(crate) fn encode_each(&self) -> Vec<Vec<u8>> {
        let mut out = Vec::with_capacity(6);
        out.push(attribute(
            &oid::ID_MESSAGE_TYPE,
            &printable_decimal(self.message_type.code()),
        ));
        out.push(attribute(
            &oid::ID_TRANSACTION_ID,
            &encode_transaction_id(&self.transaction_id),
        ));
        if let Some(n) = &self.sender_nonce {
            out.push(attribute(&oid::ID_SENDER_NONCE, &tlv::octet_string(&n.0)));
        }
        if let Some(n) = &self.recipient_nonce {
            out.push(attribute(
                &oid::ID_RECIPIENT_NONCE,
                &tlv::octet_string(&n.0),
            ));
        }
        if let Some(s) = self.pki_status {
            out.push(attribute(&oid::ID_PKI_STATUS, &printable_decimal(s.code())));
        }
        if let Some(f) = self.fail_info {
            out.push(attribute(&oid::ID_FAIL_INFO, &printable_decimal(f.code())));
        }
        out
    }

    /// Decodes the attributes inside `set_contents` (a `SET OF Attribute`,
    /// or the `[0] IMPLICIT` `signedAttrs`), skipping non-SCEP attributes.
    pub(crate) fn decode_list(set_contents: Tlv<'_>) -> Result<Self> {
        let mut message_type = None;
        let mut transaction_id = None;
        let mut sender_nonce = None;
        let mut recipient_nonce = None;
        let mut pki_status = None;
        let mut fail_info = None;
        let mut count = 0;
        let mut reader = set_contents.reader();
        while !reader.is_empty() {
            count += 1;
            if count > MAX_ATTRIBUTES {
                return Err(malformed(ParseErrorKind::TooManyElements, reader.offset()));
            }
            let (attr_oid, value) = read_attribute(&mut reader)?;
            let Some(value) = value else { continue };
            let slot_err = |name| Err(Error::InvalidAttribute(name));
            if attr_oid == oid::ID_MESSAGE_TYPE {
                if message_type.is_some() {
                    return slot_err("messageType");
                }
                message_type = Some(MessageType::from_code(decimal(&value, "messageType")?));
            } else if attr_oid == oid::ID_TRANSACTION_ID {
                if transaction_id.is_some() {
                    return slot_err("transactionID");
                }
                transaction_id = Some(decode_transaction_id(&value)?);
            } else if attr_oid == oid::ID_SENDER_NONCE {
                if sender_nonce.is_some() {
                    return slot_err("senderNonce");
                }
                sender_nonce = Some(decode_nonce(&value, "senderNonce")?);
            } else if attr_oid == oid::ID_RECIPIENT_NONCE {
                if recipient_nonce.is_some() {
                    return slot_err("recipientNonce");
                }
                recipient_nonce = Some(decode_nonce(&value, "recipientNonce")?);
            } else if attr_oid == oid::ID_PKI_STATUS {
                if pki_status.is_some() {
                    return slot_err("pkiStatus");
                }
                pki_status = Some(
                    PkiStatus::from_code(decimal(&value, "pkiStatus")?)
                        .ok_or(Error::InvalidAttribute("pkiStatus"))?,
                );
            } else if attr_oid == oid::ID_FAIL_INFO {
                if fail_info.is_some() {
                    return slot_err("failInfo");
                }
                fail_info = Some(
                    FailInfo::from_code(decimal(&value, "failInfo")?)
                        .ok_or(Error::InvalidAttribute("failInfo"))?,
                );
            }
        }
        Ok(Self {
            message_type: message_type.ok_or(Error::MissingAttribute("messageType"))?,
            transaction_id: transaction_id.ok_or(Error::MissingAttribute("transactionID"))?,
            sender_nonce,
            recipient_nonce,
            pki_status,
            fail_info,
        })
    }
}

impl Encode for ScepAttributes {
    /// Writes a DER `SET OF Attribute` holding the SCEP attributes.
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&tlv::set_of(self.encode_each()));
    }
}

impl Decode<'_> for ScepAttributes {
    /// Reads a DER `SET OF Attribute` (universal `SET` or the `[0] IMPLICIT`
    /// tag of `signedAttrs`).
    fn decode(input: &[u8]) -> Result<Self> {
        let set =
            tlv::read_single(input).map_err(|e| Error::malformed(Structure::Attributes, e))?;
        if set.tag != tag::SET && set.tag != tag::context(0) {
            return Err(malformed(
                ParseErrorKind::UnexpectedTag {
                    expected: tag::SET,
                    found: set.tag,
                },
                0,
            ));
        }
        Self::decode_list(set)
    }
}

fn malformed(kind: ParseErrorKind, offset: usize) -> Error {
    Error::malformed(
        Structure::Attributes,
        crate::error::ParseError::new(kind, offset),
    )
}

/// Reads one `Attribute`; returns its type and its single value's encoding
/// (`None` for an attribute with several values, which SCEP never sends and
/// which the caller skips unless it is a SCEP attribute).
fn read_attribute(
    reader: &mut Reader<'_>,
) -> Result<(const_oid::ObjectIdentifier, Option<Vec<u8>>)> {
    let m = |e| Error::malformed(Structure::Attributes, e);
    let attr = reader.read_tag(tag::SEQUENCE).map_err(m)?;
    let mut r = attr.reader();
    let oid_tlv = r.read_tag(tag::OID).map_err(m)?;
    let attr_oid = const_oid::ObjectIdentifier::from_bytes(oid_tlv.value)
        .map_err(|_| m(oid_tlv.error(ParseErrorKind::InvalidValue)))?;
    let values = r.read_tag(tag::SET).map_err(m)?;
    r.finish().map_err(m)?;
    let mut vr = values.reader();
    let mut first = None;
    let mut n = 0;
    while !vr.is_empty() {
        let v = vr.read().map_err(m)?;
        n += 1;
        if first.is_none() {
            first = Some(v.raw.to_vec());
        }
    }
    let is_scep = [
        oid::ID_MESSAGE_TYPE,
        oid::ID_TRANSACTION_ID,
        oid::ID_SENDER_NONCE,
        oid::ID_RECIPIENT_NONCE,
        oid::ID_PKI_STATUS,
        oid::ID_FAIL_INFO,
    ]
    .contains(&attr_oid);
    if n != 1 {
        if is_scep {
            return Err(Error::InvalidAttribute(
                "SCEP attribute with other than one value",
            ));
        }
        return Ok((attr_oid, None));
    }
    Ok((attr_oid, first))
}

/// `Attribute ::= SEQUENCE { attrType, attrValues SET OF { value } }`.
pub(crate) fn attribute(attr_type: &const_oid::ObjectIdentifier, value: &[u8]) -> Vec<u8> {
    tlv::sequence(&[&tlv::oid(attr_type), &tlv::constructed(tag::SET, &[value])])
}

fn printable_decimal(v: u32) -> Vec<u8> {
    tlv::tlv(tag::PRINTABLE_STRING, v.to_string().as_bytes())
}

/// The contents of a string value whose tag is one of `PrintableString`,
/// `IA5String` or `UTF8String`.
fn ascii_string<'a>(value: &'a [u8], name: &'static str) -> Result<&'a str> {
    let t = tlv::read_single(value).map_err(|_| Error::InvalidAttribute(name))?;
    match t.tag {
        tag::PRINTABLE_STRING | tag::IA5_STRING | tag::UTF8_STRING => {
            core::str::from_utf8(t.value).map_err(|_| Error::InvalidAttribute(name))
        }
        _ => Err(Error::InvalidAttribute(name)),
    }
}

fn decimal(value: &[u8], name: &'static str) -> Result<u32> {
    let s = ascii_string(value, name)?;
    if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::InvalidAttribute(name));
    }
    s.parse().map_err(|_| Error::InvalidAttribute(name))
}

fn decode_nonce(value: &[u8], name: &'static str) -> Result<Nonce> {
    let t = tlv::read_single(value).map_err(|_| Error::InvalidAttribute(name))?;
    if t.tag != tag::OCTET_STRING {
        return Err(Error::InvalidAttribute(name));
    }
    let bytes: [u8; 16] = t
        .value
        .try_into()
        .map_err(|_| Error::InvalidAttribute(name))?;
    Ok(Nonce(bytes))
}

fn is_printable_string_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b" '()+,-./:=?".contains(&b)
}

fn encode_transaction_id(id: &TransactionId) -> Vec<u8> {
    let t = if id.0.bytes().all(is_printable_string_char) {
        tag::PRINTABLE_STRING
    } else {
        tag::IA5_STRING
    };
    tlv::tlv(t, id.0.as_bytes())
}

fn decode_transaction_id(value: &[u8]) -> Result<TransactionId> {
    TransactionId::new(ascii_string(value, "transactionID")?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_message_type() -> impl Strategy<Value = MessageType> {
        any::<u32>().prop_map(MessageType::from_code)
    }

    fn arb_status() -> impl Strategy<Value = Option<PkiStatus>> {
        proptest::option::of(prop_oneof![
            Just(PkiStatus::Success),
            Just(PkiStatus::Failure),
            Just(PkiStatus::Pending)
        ])
    }

    fn arb_fail() -> impl Strategy<Value = Option<FailInfo>> {
        proptest::option::of((0u32..5).prop_map(|c| FailInfo::from_code(c).unwrap()))
    }

    fn arb_attrs() -> impl Strategy<Value = ScepAttributes> {
        (
            arb_message_type(),
            "[ -~]{1,64}",
            proptest::option::of(any::<[u8; 16]>()),
            proptest::option::of(any::<[u8; 16]>()),
            arb_status(),
            arb_fail(),
        )
            .prop_map(|(mt, id, sn, rn, st, fi)| ScepAttributes {
                message_type: mt,
                transaction_id: TransactionId::new(id).unwrap(),
                sender_nonce: sn.map(Nonce),
                recipient_nonce: rn.map(Nonce),
                pki_status: st,
                fail_info: fi,
            })
    }

    proptest! {
        #[test]
        fn attributes_roundtrip(attrs in arb_attrs()) {
            let der = attrs.to_der();
            let back = ScepAttributes::decode(&der).unwrap();
            prop_assert_eq!(back, attrs);
        }

        #[test]
        fn message_type_code_roundtrip(code in any::<u32>()) {
            prop_assert_eq!(MessageType::from_code(code).code(), code);
        }

        #[test]
        fn decode_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = ScepAttributes::decode(&data);
        }

        #[test]
        fn transaction_id_charset(id in "\\PC{0,300}") {
            let ok = TransactionId::new(id.clone()).is_ok();
            let expect = !id.is_empty()
                && id.len() <= MAX_TRANSACTION_ID_LEN
                && id.bytes().all(|b| (0x20..0x7f).contains(&b));
            prop_assert_eq!(ok, expect);
        }
    }

    #[test]
    fn encodings_are_printable_strings() {
        let attrs = ScepAttributes {
            message_type: MessageType::PkcsReq,
            transaction_id: TransactionId::new("ABC123").unwrap(),
            sender_nonce: Some(Nonce([7; 16])),
            recipient_nonce: None,
            pki_status: None,
            fail_info: None,
        };
        let each = attrs.encode_each();
        // messageType "19" as PrintableString.
        assert!(
            each[0]
                .windows(4)
                .any(|w| w == [tag::PRINTABLE_STRING, 2, b'1', b'9'])
        );
        // An underscore forces IA5String.
        let id = TransactionId::new("a_b").unwrap();
        assert_eq!(encode_transaction_id(&id)[0], tag::IA5_STRING);
    }

    #[test]
    fn rejects_duplicates_and_bad_values() {
        let mt = attribute(&oid::ID_MESSAGE_TYPE, &printable_decimal(19));
        let tid = attribute(
            &oid::ID_TRANSACTION_ID,
            &tlv::tlv(tag::PRINTABLE_STRING, b"x"),
        );
        let dup = tlv::constructed(tag::SET, &[&mt, &mt, &tid]);
        assert!(matches!(
            ScepAttributes::decode(&dup),
            Err(Error::InvalidAttribute("messageType"))
        ));
        let short_nonce = attribute(&oid::ID_SENDER_NONCE, &tlv::octet_string(&[1; 8]));
        let set = tlv::constructed(tag::SET, &[&mt, &tid, &short_nonce]);
        assert!(matches!(
            ScepAttributes::decode(&set),
            Err(Error::InvalidAttribute("senderNonce"))
        ));
        let bad_type = attribute(
            &oid::ID_MESSAGE_TYPE,
            &tlv::tlv(tag::PRINTABLE_STRING, b"1x"),
        );
        let set = tlv::constructed(tag::SET, &[&bad_type, &tid]);
        assert!(matches!(
            ScepAttributes::decode(&set),
            Err(Error::InvalidAttribute("messageType"))
        ));
        let set = tlv::constructed(tag::SET, &[&tid]);
        assert!(matches!(
            ScepAttributes::decode(&set),
            Err(Error::MissingAttribute("messageType"))
        ));
    }
}
