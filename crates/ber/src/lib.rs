//! A bounded BER → DER normaliser (ITU-T X.690) and a small DER element
//! reader.
//!
//! CMS (RFC 5652), SCEP (RFC 8894) and PKCS #12 (RFC 7292) are defined over
//! BER, and real producers use its freedoms: `openssl cms -sign -stream`,
//! Windows and Java write indefinite lengths and cut OCTET STRINGs into
//! constructed segments. Typed decoders such as `der` and `x509-cert` read DER
//! only, so [`to_der`] rewrites the input first:
//!
//! * indefinite lengths become definite lengths;
//! * long or padded lengths become the shortest form;
//! * constructed strings become primitive.
//!
//! It does **not** re-sort `SET OF` elements, fix `BOOLEAN` values or change
//! any other contents octets: signatures made over parts of the input (CMS
//! signed attributes, a certificate's `tbsCertificate`) verify over the
//! output as they did over the input. Input that is already DER comes back
//! borrowed.
//!
//! Parsing is bounded ([`Limits`]: nesting depth and element count; length
//! fields of at most four bytes; tags of at most five bytes) and never
//! panics. Errors are cheap: an [`ErrorKind`] and the byte offset. The crate
//! does no I/O.
//!
//! [`Reader`] walks the elements of the DER that comes out, keeping raw
//! bytes and absolute offsets, for code that must see the exact encoding it
//! received.
//!
//! ```
//! use pippin_ber::{Reader, to_der};
//!
//! // SEQUENCE (indefinite) { OCTET STRING (constructed) { "ab", "c" } }
//! let ber = [0x30, 0x80, 0x24, 0x80, 0x04, 0x02, b'a', b'b', 0x04, 0x01, b'c', 0, 0, 0, 0];
//! let der = to_der(&ber)?;
//! assert_eq!(&*der, &[0x30, 0x05, 0x04, 0x03, b'a', b'b', b'c']);
//!
//! let mut top = Reader::new(&der);
//! let seq = top.read()?;
//! let octets = top.enter(&seq).read()?;
//! assert_eq!(octets.value, b"abc");
//! # Ok::<(), pippin_ber::Error>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod normalize;
mod reader;

pub use error::{Error, ErrorKind, Result};
pub use normalize::{Limits, to_der, to_der_with};
pub use reader::{Reader, Tlv, push_length, push_tlv};

#[cfg(test)]
mod tests;
