//! The three NTLM messages (MS-NLMP 2.2.1), their flags (2.2.2.5), the
//! VERSION structure (2.2.2.10) and the AV pairs of TargetInfo (2.2.2.1).
//!
//! Decoding checks the signature, the message type and that every payload
//! field (length and offset) lies inside the message. Encoding lays the
//! payload out in field order right after the fixed header.

use core::fmt;
use core::ops::{BitAnd, BitOr};

use super::NtlmError;

/// The largest NTLM message this module reads or writes (64 KiB). The
/// payload fields have 16-bit lengths; real messages are under 2 KiB.
pub const MAX_MESSAGE_LEN: usize = 64 * 1024;

/// The most AV pairs a TargetInfo may hold.
const MAX_AV_PAIRS: usize = 64;

const SIGNATURE: &[u8; 8] = b"NTLMSSP\0";

/// `MessageType` values (MS-NLMP 2.2.1).
pub mod message_type {
    /// NEGOTIATE_MESSAGE.
    pub const NEGOTIATE: u32 = 1;
    /// CHALLENGE_MESSAGE.
    pub const CHALLENGE: u32 = 2;
    /// AUTHENTICATE_MESSAGE.
    pub const AUTHENTICATE: u32 = 3;

    /// The `MessageType` of an NTLM message, if `message` starts with the
    /// `NTLMSSP\0` signature and is long enough to have one.
    pub fn of(message: &[u8]) -> Option<u32> {
        if message.len() < 12 || &message[..8] != super::SIGNATURE {
            return None;
        }
        Some(u32::from_le_bytes([
            message[8],
            message[9],
            message[10],
            message[11],
        ]))
    }
}

/// The `NegotiateFlags` of all three messages (MS-NLMP 2.2.2.5).
#[derive(Clone, Copy, Default, Eq, Hash, PartialEq)]
pub struct NegotiateFlags(pub u32);

impl NegotiateFlags {
    /// `NTLMSSP_NEGOTIATE_UNICODE` (A): strings are UTF-16LE.
    pub const UNICODE: Self = Self(0x0000_0001);
    /// `NTLM_NEGOTIATE_OEM` (B): strings are in the OEM code page.
    pub const OEM: Self = Self(0x0000_0002);
    /// `NTLMSSP_REQUEST_TARGET` (C): the server sends its TargetName.
    pub const REQUEST_TARGET: Self = Self(0x0000_0004);
    /// `NTLMSSP_NEGOTIATE_SIGN` (D): message integrity.
    pub const SIGN: Self = Self(0x0000_0010);
    /// `NTLMSSP_NEGOTIATE_SEAL` (E): message confidentiality.
    pub const SEAL: Self = Self(0x0000_0020);
    /// `NTLMSSP_NEGOTIATE_DATAGRAM` (F): connectionless.
    pub const DATAGRAM: Self = Self(0x0000_0040);
    /// `NTLMSSP_NEGOTIATE_LM_KEY` (G).
    pub const LM_KEY: Self = Self(0x0000_0080);
    /// `NTLMSSP_NEGOTIATE_NTLM` (H).
    pub const NTLM: Self = Self(0x0000_0200);
    /// Anonymous connection (J).
    pub const ANONYMOUS: Self = Self(0x0000_0800);
    /// `NTLMSSP_NEGOTIATE_OEM_DOMAIN_SUPPLIED` (K).
    pub const OEM_DOMAIN_SUPPLIED: Self = Self(0x0000_1000);
    /// `NTLMSSP_NEGOTIATE_OEM_WORKSTATION_SUPPLIED` (L).
    pub const OEM_WORKSTATION_SUPPLIED: Self = Self(0x0000_2000);
    /// `NTLMSSP_NEGOTIATE_ALWAYS_SIGN` (M).
    pub const ALWAYS_SIGN: Self = Self(0x0000_8000);
    /// `NTLMSSP_TARGET_TYPE_DOMAIN` (N).
    pub const TARGET_TYPE_DOMAIN: Self = Self(0x0001_0000);
    /// `NTLMSSP_TARGET_TYPE_SERVER` (O).
    pub const TARGET_TYPE_SERVER: Self = Self(0x0002_0000);
    /// `NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY` (P).
    pub const EXTENDED_SESSIONSECURITY: Self = Self(0x0008_0000);
    /// `NTLMSSP_NEGOTIATE_IDENTIFY` (Q).
    pub const IDENTIFY: Self = Self(0x0010_0000);
    /// `NTLMSSP_REQUEST_NON_NT_SESSION_KEY` (R).
    pub const REQUEST_NON_NT_SESSION_KEY: Self = Self(0x0040_0000);
    /// `NTLMSSP_NEGOTIATE_TARGET_INFO` (S).
    pub const TARGET_INFO: Self = Self(0x0080_0000);
    /// `NTLMSSP_NEGOTIATE_VERSION` (T): the VERSION field is present.
    pub const VERSION: Self = Self(0x0200_0000);
    /// `NTLMSSP_NEGOTIATE_128` (U): 128-bit session keys.
    pub const NEGOTIATE_128: Self = Self(0x2000_0000);
    /// `NTLMSSP_NEGOTIATE_KEY_EXCH` (V): an encrypted random session key.
    pub const KEY_EXCH: Self = Self(0x4000_0000);
    /// `NTLMSSP_NEGOTIATE_56` (W): 56-bit session keys.
    pub const NEGOTIATE_56: Self = Self(0x8000_0000);

    /// The flags this client's NEGOTIATE message sets: Unicode, request
    /// target, sign, seal, NTLM, always sign, extended session security,
    /// target info, version, 128-bit, key exchange and 56-bit
    /// (`0xE2888235`, the flags of MS-NLMP 4.2.4.3's example).
    pub const CLIENT: Self = Self(
        Self::UNICODE.0
            | Self::REQUEST_TARGET.0
            | Self::SIGN.0
            | Self::SEAL.0
            | Self::NTLM.0
            | Self::ALWAYS_SIGN.0
            | Self::EXTENDED_SESSIONSECURITY.0
            | Self::TARGET_INFO.0
            | Self::VERSION.0
            | Self::NEGOTIATE_128.0
            | Self::KEY_EXCH.0
            | Self::NEGOTIATE_56.0,
    );

    /// Whether every flag of `other` is set.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// These flags with those of `other` cleared.
    #[must_use]
    pub const fn without(self, other: Self) -> Self {
        Self(self.0 & !other.0)
    }
}

impl BitOr for NegotiateFlags {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

impl BitAnd for NegotiateFlags {
    type Output = Self;
    fn bitand(self, rhs: Self) -> Self {
        Self(self.0 & rhs.0)
    }
}

impl fmt::Debug for NegotiateFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NegotiateFlags({:#010x})", self.0)
    }
}

/// The VERSION structure (MS-NLMP 2.2.2.10): the sender's Windows version
/// and NTLM revision, for debugging only. The three reserved bytes are
/// written as zero and ignored on receipt.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct Version {
    /// `ProductMajorVersion`.
    pub major: u8,
    /// `ProductMinorVersion`.
    pub minor: u8,
    /// `ProductBuild`.
    pub build: u16,
    /// `NTLMRevisionCurrent` (15 for NTLMSSP_REVISION_W2K3).
    pub revision: u8,
}

impl Version {
    /// What this client sends: 10.0.20348, revision 15.
    pub const CLIENT: Self = Self {
        major: 10,
        minor: 0,
        build: 20348,
        revision: 15,
    };

    fn encode(&self) -> [u8; 8] {
        let b = self.build.to_le_bytes();
        [self.major, self.minor, b[0], b[1], 0, 0, 0, self.revision]
    }

    fn decode(b: &[u8]) -> Self {
        Self {
            major: b[0],
            minor: b[1],
            build: u16::from_le_bytes([b[2], b[3]]),
            revision: b[7],
        }
    }
}

/// Bits of the `MsvAvFlags` AV pair (MS-NLMP 2.2.2.1).
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct AvFlags;

impl AvFlags {
    /// The account authentication is constrained.
    pub const CONSTRAINED: u32 = 0x1;
    /// The AUTHENTICATE message carries a MIC.
    pub const MIC_PRESENT: u32 = 0x2;
    /// The client's TargetName came from an untrusted source.
    pub const UNTRUSTED_SPN: u32 = 0x4;
}

/// One AV pair of a TargetInfo (MS-NLMP 2.2.2.1). `MsvAvEOL` ends the list
/// and is not represented: [`TargetInfo::encode`] writes it.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum AvPair {
    /// `MsvAvNbComputerName` (1): the server's NetBIOS name.
    NbComputerName(String),
    /// `MsvAvNbDomainName` (2): the NetBIOS domain name.
    NbDomainName(String),
    /// `MsvAvDnsComputerName` (3): the server's FQDN.
    DnsComputerName(String),
    /// `MsvAvDnsDomainName` (4): the domain's FQDN.
    DnsDomainName(String),
    /// `MsvAvDnsTreeName` (5): the forest's FQDN.
    DnsTreeName(String),
    /// `MsvAvFlags` (6): [`AvFlags`] bits.
    Flags(u32),
    /// `MsvAvTimestamp` (7): the server's time as a FILETIME.
    Timestamp(u64),
    /// `MsvAvSingleHost` (8): a Single_Host_Data structure, kept as bytes.
    SingleHost(Vec<u8>),
    /// `MsvAvTargetName` (9): the SPN the client meant to reach.
    TargetName(String),
    /// `MsvAvChannelBindings` (10): MD5 of the channel bindings.
    ChannelBindings([u8; 16]),
    /// Any other AvId, kept as it came.
    Other {
        /// The `AvId`.
        id: u16,
        /// The `Value`.
        value: Vec<u8>,
    },
}

impl AvPair {
    /// The `AvId` of this pair.
    pub fn id(&self) -> u16 {
        match self {
            Self::NbComputerName(_) => 1,
            Self::NbDomainName(_) => 2,
            Self::DnsComputerName(_) => 3,
            Self::DnsDomainName(_) => 4,
            Self::DnsTreeName(_) => 5,
            Self::Flags(_) => 6,
            Self::Timestamp(_) => 7,
            Self::SingleHost(_) => 8,
            Self::TargetName(_) => 9,
            Self::ChannelBindings(_) => 10,
            Self::Other { id, .. } => *id,
        }
    }

    fn value(&self) -> Vec<u8> {
        match self {
            Self::NbComputerName(s)
            | Self::NbDomainName(s)
            | Self::DnsComputerName(s)
            | Self::DnsDomainName(s)
            | Self::DnsTreeName(s)
            | Self::TargetName(s) => utf16le(s),
            Self::Flags(v) => v.to_le_bytes().to_vec(),
            Self::Timestamp(v) => v.to_le_bytes().to_vec(),
            Self::SingleHost(v) | Self::Other { value: v, .. } => v.clone(),
            Self::ChannelBindings(v) => v.to_vec(),
        }
    }
}

/// The TargetInfo of a CHALLENGE message, or the AvPairs of an NTLMv2
/// response (MS-NLMP 2.2.2.1): a list of [`AvPair`]s in the order
/// received.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct TargetInfo {
    /// The pairs, without the terminating `MsvAvEOL`.
    pub pairs: Vec<AvPair>,
}

impl TargetInfo {
    /// Reads AV pairs up to and including `MsvAvEOL`; bytes after it are
    /// ignored (NTLMv2 responses carry four zero bytes there). A missing
    /// EOL, a pair that overruns the input, a fixed-size pair of the wrong
    /// size, a string of odd length or invalid UTF-16, or more than 64
    /// pairs is an error.
    pub fn decode(input: &[u8]) -> Result<Self, NtlmError> {
        let bad = |offset, reason| NtlmError::Malformed {
            message: "TargetInfo",
            offset,
            reason,
        };
        let mut pairs = Vec::new();
        let mut pos = 0;
        loop {
            let Some(head) = input.get(pos..pos + 4) else {
                return Err(bad(pos, "ends without MsvAvEOL"));
            };
            let id = u16::from_le_bytes([head[0], head[1]]);
            let len = usize::from(u16::from_le_bytes([head[2], head[3]]));
            let value = input
                .get(pos + 4..pos + 4 + len)
                .ok_or(bad(pos, "AV pair overruns the TargetInfo"))?;
            if id == 0 {
                if len != 0 {
                    return Err(bad(pos, "MsvAvEOL with a value"));
                }
                return Ok(Self { pairs });
            }
            if pairs.len() == MAX_AV_PAIRS {
                return Err(bad(pos, "more than 64 AV pairs"));
            }
            let string = || from_utf16le(value).ok_or(bad(pos + 4, "invalid UTF-16 string"));
            let pair = match id {
                1 => AvPair::NbComputerName(string()?),
                2 => AvPair::NbDomainName(string()?),
                3 => AvPair::DnsComputerName(string()?),
                4 => AvPair::DnsDomainName(string()?),
                5 => AvPair::DnsTreeName(string()?),
                6 => {
                    let v: [u8; 4] = value
                        .try_into()
                        .map_err(|_| bad(pos, "MsvAvFlags is not 4 bytes"))?;
                    AvPair::Flags(u32::from_le_bytes(v))
                }
                7 => {
                    let v: [u8; 8] = value
                        .try_into()
                        .map_err(|_| bad(pos, "MsvAvTimestamp is not 8 bytes"))?;
                    AvPair::Timestamp(u64::from_le_bytes(v))
                }
                8 => AvPair::SingleHost(value.to_vec()),
                9 => AvPair::TargetName(string()?),
                10 => AvPair::ChannelBindings(
                    value
                        .try_into()
                        .map_err(|_| bad(pos, "MsvAvChannelBindings is not 16 bytes"))?,
                ),
                _ => AvPair::Other {
                    id,
                    value: value.to_vec(),
                },
            };
            pairs.push(pair);
            pos += 4 + len;
        }
    }

    /// Appends the pairs and the terminating `MsvAvEOL` to `out`. A value
    /// longer than 65535 bytes is an error.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), NtlmError> {
        if self.pairs.len() > MAX_AV_PAIRS {
            return Err(NtlmError::TooLarge {
                what: "the number of AV pairs",
                limit: MAX_AV_PAIRS,
            });
        }
        for pair in &self.pairs {
            let value = pair.value();
            let len = u16::try_from(value.len()).map_err(|_| NtlmError::TooLarge {
                what: "an AV pair",
                limit: usize::from(u16::MAX),
            })?;
            out.extend_from_slice(&pair.id().to_le_bytes());
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&value);
        }
        out.extend_from_slice(&[0, 0, 0, 0]);
        Ok(())
    }

    /// The encoded pairs with their `MsvAvEOL`.
    pub fn to_bytes(&self) -> Result<Vec<u8>, NtlmError> {
        let mut out = Vec::new();
        self.encode(&mut out)?;
        Ok(out)
    }

    /// The value of `MsvAvTimestamp`, if present.
    pub fn timestamp(&self) -> Option<u64> {
        self.pairs.iter().find_map(|p| match p {
            AvPair::Timestamp(t) => Some(*t),
            _ => None,
        })
    }

    /// The value of `MsvAvFlags`, if present.
    pub fn flags(&self) -> Option<u32> {
        self.pairs.iter().find_map(|p| match p {
            AvPair::Flags(f) => Some(*f),
            _ => None,
        })
    }

    /// The value of `MsvAvChannelBindings`, if present.
    pub fn channel_bindings(&self) -> Option<[u8; 16]> {
        self.pairs.iter().find_map(|p| match p {
            AvPair::ChannelBindings(c) => Some(*c),
            _ => None,
        })
    }

    /// The value of `MsvAvTargetName`, if present.
    pub fn target_name(&self) -> Option<&str> {
        self.pairs.iter().find_map(|p| match p {
            AvPair::TargetName(t) => Some(t.as_str()),
            _ => None,
        })
    }

    /// Replaces the first pair with the id of `pair`, or appends `pair`.
    pub fn set(&mut self, pair: AvPair) {
        match self.pairs.iter_mut().find(|p| p.id() == pair.id()) {
            Some(slot) => *slot = pair,
            None => self.pairs.push(pair),
        }
    }
}

/// NEGOTIATE_MESSAGE (MS-NLMP 2.2.1.1): the client's first message.
///
/// The domain and workstation names are OEM strings, kept as bytes; this
/// client sends neither.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct NegotiateMessage {
    /// `NegotiateFlags`. [`encode`](Self::encode) sets or clears
    /// [`NegotiateFlags::VERSION`] to match [`version`](Self::version).
    pub flags: NegotiateFlags,
    /// `DomainName` (OEM).
    pub domain: Vec<u8>,
    /// `Workstation` (OEM).
    pub workstation: Vec<u8>,
    /// `Version`, read when the VERSION flag is set.
    pub version: Option<Version>,
}

impl NegotiateMessage {
    /// This client's NEGOTIATE: [`NegotiateFlags::CLIENT`],
    /// [`Version::CLIENT`], no names.
    pub fn client() -> Self {
        Self {
            flags: NegotiateFlags::CLIENT,
            domain: Vec::new(),
            workstation: Vec::new(),
            version: Some(Version::CLIENT),
        }
    }

    /// Reads a NEGOTIATE message.
    pub fn decode(input: &[u8]) -> Result<Self, NtlmError> {
        let m = Message::open(input, "NEGOTIATE", message_type::NEGOTIATE, 32)?;
        let flags = NegotiateFlags(m.u32(12));
        let domain = m.field(16)?;
        let workstation = m.field(24)?;
        let version = m.version(
            flags,
            32,
            payload_start(&[domain, workstation], input.len()),
        );
        Ok(Self {
            flags,
            domain: domain.0.to_vec(),
            workstation: workstation.0.to_vec(),
            version,
        })
    }

    /// Writes the message.
    pub fn encode(&self) -> Result<Vec<u8>, NtlmError> {
        let flags = with_version_flag(self.flags, self.version.is_some());
        let header = if self.version.is_some() { 40 } else { 32 };
        let mut b = Builder::new(message_type::NEGOTIATE, header);
        b.put_u32(12, flags.0);
        b.field(16, &self.domain)?;
        b.field(24, &self.workstation)?;
        if let Some(v) = &self.version {
            b.put(32, &v.encode());
        }
        b.finish()
    }
}

/// CHALLENGE_MESSAGE (MS-NLMP 2.2.1.2): the server's answer.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct ChallengeMessage {
    /// `NegotiateFlags`, what the server agreed to. [`encode`](Self::encode)
    /// sets or clears [`NegotiateFlags::VERSION`] to match
    /// [`version`](Self::version).
    pub flags: NegotiateFlags,
    /// `TargetName`: UTF-16LE when the UNICODE flag is set, otherwise the
    /// OEM bytes read as Latin-1 (the OEM code page is not known).
    pub target_name: String,
    /// `ServerChallenge`.
    pub server_challenge: [u8; 8],
    /// `TargetInfo`, when the field is not empty.
    pub target_info: Option<TargetInfo>,
    /// `Version`, read when the VERSION flag is set.
    pub version: Option<Version>,
}

impl ChallengeMessage {
    /// Reads a CHALLENGE message.
    pub fn decode(input: &[u8]) -> Result<Self, NtlmError> {
        let m = Message::open(input, "CHALLENGE", message_type::CHALLENGE, 48)?;
        let flags = NegotiateFlags(m.u32(20));
        let name = m.field(12)?;
        let target_name = m.string(name, flags.contains(NegotiateFlags::UNICODE))?;
        let mut server_challenge = [0; 8];
        server_challenge.copy_from_slice(&input[24..32]);
        let info = m.field(40)?;
        let target_info = if info.0.is_empty() {
            None
        } else {
            Some(TargetInfo::decode(info.0).map_err(|e| shift(e, info.1))?)
        };
        let version = m.version(flags, 48, payload_start(&[name, info], input.len()));
        Ok(Self {
            flags,
            target_name,
            server_challenge,
            target_info,
            version,
        })
    }

    /// Writes the message (payload: TargetName, then TargetInfo).
    pub fn encode(&self) -> Result<Vec<u8>, NtlmError> {
        let flags = with_version_flag(self.flags, self.version.is_some());
        let header = if self.version.is_some() { 56 } else { 48 };
        let mut b = Builder::new(message_type::CHALLENGE, header);
        let unicode = flags.contains(NegotiateFlags::UNICODE);
        b.field(12, &encode_string(&self.target_name, unicode))?;
        b.put_u32(20, flags.0);
        b.put(24, &self.server_challenge);
        let info = match &self.target_info {
            Some(info) => info.to_bytes()?,
            None => Vec::new(),
        };
        b.field(40, &info)?;
        if let Some(v) = &self.version {
            b.put(48, &v.encode());
        }
        b.finish()
    }
}

/// AUTHENTICATE_MESSAGE (MS-NLMP 2.2.1.3): the client's answer.
///
/// Whether the VERSION and MIC fields are present is not flagged on the
/// wire; [`decode`](Self::decode) infers it from where the payload starts
/// (at or after byte 72: VERSION's place is there; at or after 88: the MIC
/// is), as Windows does.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct AuthenticateMessage {
    /// `NegotiateFlags`. [`encode`](Self::encode) sets or clears
    /// [`NegotiateFlags::VERSION`] to match [`version`](Self::version).
    pub flags: NegotiateFlags,
    /// `LmChallengeResponse`.
    pub lm_response: Vec<u8>,
    /// `NtChallengeResponse` (an [`NtlmV2Response`] for NTLMv2).
    pub nt_response: Vec<u8>,
    /// `DomainName`.
    pub domain: String,
    /// `UserName`.
    pub user: String,
    /// `Workstation`.
    pub workstation: String,
    /// `EncryptedRandomSessionKey` (empty without KEY_EXCH).
    pub encrypted_random_session_key: Vec<u8>,
    /// `Version`.
    pub version: Option<Version>,
    /// `MIC`.
    pub mic: Option<[u8; 16]>,
}

impl AuthenticateMessage {
    /// Where the MIC sits in an encoded AUTHENTICATE message.
    pub const MIC_RANGE: core::ops::Range<usize> = 72..88;

    /// Reads an AUTHENTICATE message.
    pub fn decode(input: &[u8]) -> Result<Self, NtlmError> {
        let m = Message::open(input, "AUTHENTICATE", message_type::AUTHENTICATE, 64)?;
        let flags = NegotiateFlags(m.u32(60));
        let unicode = flags.contains(NegotiateFlags::UNICODE);
        let lm = m.field(12)?;
        let nt = m.field(20)?;
        let domain = m.field(28)?;
        let user = m.field(36)?;
        let workstation = m.field(44)?;
        let key = m.field(52)?;
        let payload_start = payload_start(&[lm, nt, domain, user, workstation, key], input.len());
        let version = m.version(flags, 64, payload_start);
        let mic = if payload_start >= 88 && input.len() >= 88 {
            let mut mic = [0; 16];
            mic.copy_from_slice(&input[Self::MIC_RANGE]);
            Some(mic)
        } else {
            None
        };
        Ok(Self {
            flags,
            lm_response: lm.0.to_vec(),
            nt_response: nt.0.to_vec(),
            domain: m.string(domain, unicode)?,
            user: m.string(user, unicode)?,
            workstation: m.string(workstation, unicode)?,
            encrypted_random_session_key: key.0.to_vec(),
            version,
            mic,
        })
    }

    /// Writes the message (payload: domain, user, workstation, LM
    /// response, NT response, session key — the order of MS-NLMP 4.2.4.3).
    /// With a MIC the VERSION field's place is kept (zero when `version` is
    /// `None`).
    pub fn encode(&self) -> Result<Vec<u8>, NtlmError> {
        let flags = with_version_flag(self.flags, self.version.is_some());
        let header = match (self.mic.is_some(), self.version.is_some()) {
            (true, _) => 88,
            (false, true) => 72,
            (false, false) => 64,
        };
        let unicode = flags.contains(NegotiateFlags::UNICODE);
        let mut b = Builder::new(message_type::AUTHENTICATE, header);
        b.field(28, &encode_string(&self.domain, unicode))?;
        b.field(36, &encode_string(&self.user, unicode))?;
        b.field(44, &encode_string(&self.workstation, unicode))?;
        b.field(12, &self.lm_response)?;
        b.field(20, &self.nt_response)?;
        b.field(52, &self.encrypted_random_session_key)?;
        b.put_u32(60, flags.0);
        if let Some(v) = &self.version {
            b.put(64, &v.encode());
        }
        if let Some(mic) = &self.mic {
            b.put(72, mic);
        }
        b.finish()
    }
}

/// NTLMv2_RESPONSE (MS-NLMP 2.2.2.8) with its NTLMv2_CLIENT_CHALLENGE
/// (2.2.2.7), as read from an AUTHENTICATE message's NT response.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct NtlmV2Response {
    /// `Response`: the NTProofStr.
    pub nt_proof: [u8; 16],
    /// `TimeStamp` (FILETIME).
    pub timestamp: u64,
    /// `ChallengeFromClient`.
    pub client_challenge: [u8; 8],
    /// `AvPairs`.
    pub av_pairs: TargetInfo,
}

impl NtlmV2Response {
    /// Reads an NT response as NTLMv2. Responses of 24 bytes or less are
    /// NTLMv1 and refused; so is a `RespType`/`HiRespType` other than 1.
    pub fn decode(nt_response: &[u8]) -> Result<Self, NtlmError> {
        let bad = |offset, reason| NtlmError::Malformed {
            message: "NTLMv2 response",
            offset,
            reason,
        };
        if nt_response.len() < 16 + 28 + 4 {
            return Err(bad(0, "too short for NTLMv2"));
        }
        if nt_response[16] != 1 || nt_response[17] != 1 {
            return Err(bad(16, "RespType is not 1"));
        }
        let mut nt_proof = [0; 16];
        nt_proof.copy_from_slice(&nt_response[..16]);
        let mut ts = [0; 8];
        ts.copy_from_slice(&nt_response[24..32]);
        let mut client_challenge = [0; 8];
        client_challenge.copy_from_slice(&nt_response[32..40]);
        let av_pairs = TargetInfo::decode(&nt_response[44..]).map_err(|e| shift(e, 44))?;
        Ok(Self {
            nt_proof,
            timestamp: u64::from_le_bytes(ts),
            client_challenge,
            av_pairs,
        })
    }
}

/// Where the payload starts: the lowest offset of a non-empty field, or
/// the end of the message.
fn payload_start(fields: &[(&[u8], usize)], len: usize) -> usize {
    fields
        .iter()
        .filter(|f| !f.0.is_empty())
        .map(|f| f.1)
        .min()
        .unwrap_or(len)
}

/// Sets or clears the VERSION flag.
fn with_version_flag(flags: NegotiateFlags, version: bool) -> NegotiateFlags {
    if version {
        flags | NegotiateFlags::VERSION
    } else {
        flags.without(NegotiateFlags::VERSION)
    }
}

/// Moves a TargetInfo error's offset into the enclosing message.
fn shift(e: NtlmError, by: usize) -> NtlmError {
    match e {
        NtlmError::Malformed {
            message,
            offset,
            reason,
        } => NtlmError::Malformed {
            message,
            offset: offset + by,
            reason,
        },
        other => other,
    }
}

/// UTF-16LE bytes of `s`.
pub(crate) fn utf16le(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// `s` from UTF-16LE bytes; `None` for an odd length or unpaired surrogates.
pub(crate) fn from_utf16le(b: &[u8]) -> Option<String> {
    if !b.len().is_multiple_of(2) {
        return None;
    }
    let units = b.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]]));
    char::decode_utf16(units)
        .collect::<Result<String, _>>()
        .ok()
}

/// A string as UTF-16LE, or as Latin-1 bytes (characters past U+00FF
/// become `?`).
fn encode_string(s: &str, unicode: bool) -> Vec<u8> {
    if unicode {
        utf16le(s)
    } else {
        s.chars()
            .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
            .collect()
    }
}

/// A received message: checked signature, type and minimum length.
struct Message<'a> {
    data: &'a [u8],
    name: &'static str,
}

impl<'a> Message<'a> {
    fn open(
        data: &'a [u8],
        name: &'static str,
        kind: u32,
        header: usize,
    ) -> Result<Self, NtlmError> {
        let bad = |offset, reason| NtlmError::Malformed {
            message: name,
            offset,
            reason,
        };
        if data.len() > MAX_MESSAGE_LEN {
            return Err(NtlmError::TooLarge {
                what: "an NTLM message",
                limit: MAX_MESSAGE_LEN,
            });
        }
        if data.len() < 12 || &data[..8] != SIGNATURE {
            return Err(bad(0, "no NTLMSSP signature"));
        }
        let got = u32::from_le_bytes([data[8], data[9], data[10], data[11]]);
        if got != kind {
            return Err(NtlmError::UnexpectedMessage {
                expected: name,
                got,
            });
        }
        if data.len() < header {
            return Err(bad(data.len(), "shorter than its fixed header"));
        }
        Ok(Self { data, name })
    }

    /// A little-endian u32 inside the (checked) fixed header.
    fn u32(&self, at: usize) -> u32 {
        let d = self.data;
        u32::from_le_bytes([d[at], d[at + 1], d[at + 2], d[at + 3]])
    }

    /// A payload field (`Len`, `MaxLen`, `BufferOffset` at `at`): its bytes
    /// and offset. An empty field's offset is not checked.
    fn field(&self, at: usize) -> Result<(&'a [u8], usize), NtlmError> {
        let d = self.data;
        let len = usize::from(u16::from_le_bytes([d[at], d[at + 1]]));
        let offset = self.u32(at + 4) as usize;
        if len == 0 {
            return Ok((&[], offset));
        }
        let bytes = offset
            .checked_add(len)
            .and_then(|end| d.get(offset..end))
            .ok_or(NtlmError::Malformed {
                message: self.name,
                offset: at,
                reason: "payload field outside the message",
            })?;
        Ok((bytes, offset))
    }

    fn string(&self, field: (&[u8], usize), unicode: bool) -> Result<String, NtlmError> {
        if unicode {
            from_utf16le(field.0).ok_or(NtlmError::Malformed {
                message: self.name,
                offset: field.1,
                reason: "invalid UTF-16 string",
            })
        } else {
            Ok(field.0.iter().map(|&b| char::from(b)).collect())
        }
    }

    /// The VERSION field at `at`, if the flag says so and the payload
    /// (starting at `payload_start`) leaves room for it.
    fn version(&self, flags: NegotiateFlags, at: usize, payload_start: usize) -> Option<Version> {
        if !flags.contains(NegotiateFlags::VERSION) || payload_start < at + 8 {
            return None;
        }
        self.data.get(at..at + 8).map(Version::decode)
    }
}

/// An outgoing message: fixed header, then the payload.
struct Builder {
    header: Vec<u8>,
    payload: Vec<u8>,
}

impl Builder {
    fn new(kind: u32, header_len: usize) -> Self {
        let mut header = vec![0; header_len];
        header[..8].copy_from_slice(SIGNATURE);
        header[8..12].copy_from_slice(&kind.to_le_bytes());
        Self {
            header,
            payload: Vec::new(),
        }
    }

    fn put(&mut self, at: usize, bytes: &[u8]) {
        self.header[at..at + bytes.len()].copy_from_slice(bytes);
    }

    fn put_u32(&mut self, at: usize, v: u32) {
        self.put(at, &v.to_le_bytes());
    }

    fn field(&mut self, at: usize, value: &[u8]) -> Result<(), NtlmError> {
        let too_large = NtlmError::TooLarge {
            what: "an NTLM message field",
            limit: usize::from(u16::MAX),
        };
        let len = u16::try_from(value.len()).map_err(|_| too_large.clone())?;
        let offset =
            u32::try_from(self.header.len() + self.payload.len()).map_err(|_| too_large)?;
        self.put(at, &len.to_le_bytes());
        self.put(at + 2, &len.to_le_bytes());
        self.put_u32(at + 4, offset);
        self.payload.extend_from_slice(value);
        Ok(())
    }

    fn finish(mut self) -> Result<Vec<u8>, NtlmError> {
        self.header.append(&mut self.payload);
        if self.header.len() > MAX_MESSAGE_LEN {
            return Err(NtlmError::TooLarge {
                what: "an NTLM message",
                limit: MAX_MESSAGE_LEN,
            });
        }
        Ok(self.header)
    }
}
