//! Session security with extended session security (MS-NLMP 3.4): message
//! signatures and sealing, connection-oriented.

use core::fmt;

use rc4::{Rc4, StreamCipher};
use subtle::ConstantTimeEq;

use super::NtlmError;
use super::crypto::{Direction, hmac_md5, rc4_handle, seal_key, sign_key};
use super::messages::NegotiateFlags;

/// The length of an NTLM message signature (NTLMSSP_MESSAGE_SIGNATURE with
/// extended session security, MS-NLMP 2.2.2.9.1).
pub const SIGNATURE_LEN: usize = 16;

/// The signing and sealing state of an authenticated NTLM connection, for
/// one side: its outgoing keys, RC4 handle and sequence number, and the
/// peer's.
///
/// NTLM over HTTP is connection-oriented (MS-NLMP 3.4): each direction has
/// one RC4 handle that runs on from message to message, and a sequence
/// number that counts up from 0. Messages must therefore be sealed and
/// unsealed in the order they travel, and a message whose signature fails
/// leaves the incoming side out of step — the connection is then unusable.
///
/// A signature is `01 00 00 00`, the first 8 bytes of
/// `HMAC_MD5(SigningKey, SeqNum || message)` (passed through the RC4 handle
/// when KEY_EXCH was negotiated), and `SeqNum`, little-endian (MS-NLMP
/// 3.4.4.2). Sequence numbers wrap after 2³² messages.
///
/// Only extended session security is implemented; [`Initiator`] refuses
/// servers that do not offer it.
///
/// [`Initiator`]: super::Initiator
pub struct Session {
    flags: NegotiateFlags,
    outgoing: Half,
    incoming: Half,
}

/// One direction's keys and state.
struct Half {
    sign_key: [u8; 16],
    seal_key: [u8; 16],
    rc4: Rc4,
    seq: u32,
}

impl Half {
    fn new(exported_session_key: &[u8; 16], flags: NegotiateFlags, direction: Direction) -> Self {
        let seal_key = seal_key(exported_session_key, flags, direction);
        Self {
            sign_key: sign_key(exported_session_key, direction),
            seal_key,
            rc4: rc4_handle(&seal_key),
            seq: 0,
        }
    }

    /// The signature of `message` (plaintext) with the current sequence
    /// number, which then moves on. Uses the RC4 handle when KEY_EXCH.
    fn mac(&mut self, flags: NegotiateFlags, message: &[u8]) -> [u8; SIGNATURE_LEN] {
        let seq = self.seq.to_le_bytes();
        let digest = hmac_md5(&self.sign_key, &[&seq, message]);
        let mut checksum = [0u8; 8];
        checksum.copy_from_slice(&digest[..8]);
        if flags.contains(NegotiateFlags::KEY_EXCH) {
            self.rc4.apply_keystream(&mut checksum);
        }
        self.seq = self.seq.wrapping_add(1);
        let mut sig = [0u8; SIGNATURE_LEN];
        sig[..4].copy_from_slice(&1u32.to_le_bytes());
        sig[4..12].copy_from_slice(&checksum);
        sig[12..].copy_from_slice(&seq);
        sig
    }
}

impl Session {
    /// The client's side of a session, from the ExportedSessionKey and the
    /// flags of the AUTHENTICATE message. [`Initiator::authenticate`] builds
    /// it; this constructor is for tests and for peers that derive the key
    /// themselves.
    ///
    /// [`Initiator::authenticate`]: super::Initiator::authenticate
    pub fn for_initiator(exported_session_key: [u8; 16], flags: NegotiateFlags) -> Self {
        Self {
            flags,
            outgoing: Half::new(&exported_session_key, flags, Direction::ClientToServer),
            incoming: Half::new(&exported_session_key, flags, Direction::ServerToClient),
        }
    }

    /// The server's side of a session: outgoing is server-to-client. A
    /// session from [`for_initiator`](Self::for_initiator) and one from this
    /// constructor, with the same key and flags, talk to each other.
    pub fn for_acceptor(exported_session_key: [u8; 16], flags: NegotiateFlags) -> Self {
        Self {
            flags,
            outgoing: Half::new(&exported_session_key, flags, Direction::ServerToClient),
            incoming: Half::new(&exported_session_key, flags, Direction::ClientToServer),
        }
    }

    /// The negotiated flags.
    pub fn flags(&self) -> NegotiateFlags {
        self.flags
    }

    /// The sequence number the next outgoing message gets.
    pub fn outgoing_sequence(&self) -> u32 {
        self.outgoing.seq
    }

    /// The sequence number the next incoming message must carry.
    pub fn incoming_sequence(&self) -> u32 {
        self.incoming.seq
    }

    /// Seals `message` (`SEAL`, MS-NLMP 3.4.3): returns its signature and the
    /// encrypted bytes (as long as the message). The message is encrypted
    /// first, then the checksum, with the same RC4 handle.
    pub fn seal(&mut self, message: &[u8]) -> ([u8; SIGNATURE_LEN], Vec<u8>) {
        let mut sealed = message.to_vec();
        self.outgoing.rc4.apply_keystream(&mut sealed);
        let signature = self.outgoing.mac(self.flags, message);
        (signature, sealed)
    }

    /// Unseals a message from the peer and checks its signature (in constant
    /// time) and sequence number.
    pub fn unseal(&mut self, sealed: &[u8], signature: &[u8]) -> Result<Vec<u8>, NtlmError> {
        let mut message = sealed.to_vec();
        self.incoming.rc4.apply_keystream(&mut message);
        self.verify_inner(&message, signature, "message signature")?;
        Ok(message)
    }

    /// Signs `message` without sealing it (`MAC`, MS-NLMP 3.4.4).
    pub fn sign(&mut self, message: &[u8]) -> [u8; SIGNATURE_LEN] {
        self.outgoing.mac(self.flags, message)
    }

    /// Checks the peer's signature of `message` (in constant time).
    pub fn verify(&mut self, message: &[u8], signature: &[u8]) -> Result<(), NtlmError> {
        self.verify_inner(message, signature, "message signature")
    }

    fn verify_inner(
        &mut self,
        message: &[u8],
        signature: &[u8],
        what: &'static str,
    ) -> Result<(), NtlmError> {
        let expected = self.incoming.mac(self.flags, message);
        if signature.len() == SIGNATURE_LEN && bool::from(expected.ct_eq(signature)) {
            Ok(())
        } else {
            Err(NtlmError::BadSignature(what))
        }
    }

    /// Signs a SPNEGO `mechListMIC` over `mech_types` (the DER
    /// `MechTypeList`, see [`spnego::mech_type_list`]) and restarts the
    /// outgoing RC4 handle from its key, keeping the sequence number — what
    /// Windows and pyspnego do after the `mechListMIC`, so that the first
    /// sealed message after it matches theirs.
    ///
    /// [`spnego::mech_type_list`]: super::spnego::mech_type_list
    pub fn sign_mech_list(&mut self, mech_types: &[u8]) -> [u8; SIGNATURE_LEN] {
        let mic = self.sign(mech_types);
        self.outgoing.rc4 = rc4_handle(&self.outgoing.seal_key);
        mic
    }

    /// Checks the peer's `mechListMIC` over `mech_types`, then restarts the
    /// incoming RC4 handle as [`sign_mech_list`](Self::sign_mech_list) does.
    pub fn verify_mech_list(&mut self, mech_types: &[u8], mic: &[u8]) -> Result<(), NtlmError> {
        self.verify_inner(mech_types, mic, "SPNEGO mechListMIC")?;
        self.incoming.rc4 = rc4_handle(&self.incoming.seal_key);
        Ok(())
    }
}

impl fmt::Debug for Session {
    /// Shows the flags and sequence numbers, never a key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("flags", &self.flags)
            .field("outgoing_sequence", &self.outgoing.seq)
            .field("incoming_sequence", &self.incoming.seq)
            .finish_non_exhaustive()
    }
}
