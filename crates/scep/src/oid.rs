//! Object identifiers used by SCEP, CMS, PKCS #9/#10 and X.509.

use const_oid::ObjectIdentifier as Oid;

// CMS content types (RFC 5652 §4, §5.1, §6.1).
/// `id-data`.
pub const ID_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.1");
/// `id-signedData`.
pub const ID_SIGNED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.2");
/// `id-envelopedData`.
pub const ID_ENVELOPED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.3");

// CMS attributes (RFC 5652 §11).
/// `id-contentType`.
pub const ID_CONTENT_TYPE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.3");
/// `id-messageDigest`.
pub const ID_MESSAGE_DIGEST: Oid = Oid::new_unwrap("1.2.840.113549.1.9.4");
/// `id-signingTime`.
pub const ID_SIGNING_TIME: Oid = Oid::new_unwrap("1.2.840.113549.1.9.5");

// PKCS #9 attributes in a PKCS #10 request (RFC 2985 §5.4).
/// `pkcs-9-at-challengePassword`.
pub const ID_CHALLENGE_PASSWORD: Oid = Oid::new_unwrap("1.2.840.113549.1.9.7");
/// `pkcs-9-at-extensionRequest`.
pub const ID_EXTENSION_REQUEST: Oid = Oid::new_unwrap("1.2.840.113549.1.9.14");

// SCEP attributes (RFC 8894 §3.2.1): id-VeriSign pki(1) attributes(9).
/// `id-messageType`.
pub const ID_MESSAGE_TYPE: Oid = Oid::new_unwrap("2.16.840.1.113733.1.9.2");
/// `id-pkiStatus`.
pub const ID_PKI_STATUS: Oid = Oid::new_unwrap("2.16.840.1.113733.1.9.3");
/// `id-failInfo`.
pub const ID_FAIL_INFO: Oid = Oid::new_unwrap("2.16.840.1.113733.1.9.4");
/// `id-senderNonce`.
pub const ID_SENDER_NONCE: Oid = Oid::new_unwrap("2.16.840.1.113733.1.9.5");
/// `id-recipientNonce`.
pub const ID_RECIPIENT_NONCE: Oid = Oid::new_unwrap("2.16.840.1.113733.1.9.6");
/// `id-transactionID`.
pub const ID_TRANSACTION_ID: Oid = Oid::new_unwrap("2.16.840.1.113733.1.9.7");

// Digests (RFC 3370 §2.1, RFC 5754 §2).
/// `id-sha1`.
pub const ID_SHA1: Oid = Oid::new_unwrap("1.3.14.3.2.26");
/// `id-sha224`.
pub const ID_SHA224: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.4");
/// `id-sha256`.
pub const ID_SHA256: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.1");
/// `id-sha384`.
pub const ID_SHA384: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.2");
/// `id-sha512`.
pub const ID_SHA512: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.3");

// RSA (RFC 8017 Appendix C, RFC 4055 §5).
/// `rsaEncryption`.
pub const RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
/// `sha1WithRSAEncryption`.
pub const SHA1_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.5");
/// `sha256WithRSAEncryption`.
pub const SHA256_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.11");
/// `sha384WithRSAEncryption`.
pub const SHA384_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.12");
/// `sha512WithRSAEncryption`.
pub const SHA512_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.13");
/// `sha224WithRSAEncryption`.
pub const SHA224_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.14");

// Elliptic curves (RFC 5480 §2.1.1, RFC 5758 §3.2).
/// `id-ecPublicKey`.
pub const ID_EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
/// `secp256r1`.
pub const SECP256R1: Oid = Oid::new_unwrap("1.2.840.10045.3.1.7");
/// `ecdsa-with-SHA256`.
pub const ECDSA_WITH_SHA256: Oid = Oid::new_unwrap("1.2.840.10045.4.3.2");

// Content encryption (RFC 3565 §4.1, RFC 3370 §5.1).
/// `id-aes128-CBC`.
pub const AES128_CBC: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.1.2");
/// `id-aes192-CBC`.
pub const AES192_CBC: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.1.22");
/// `id-aes256-CBC`.
pub const AES256_CBC: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.1.42");
/// `des-ede3-cbc`.
pub const DES_EDE3_CBC: Oid = Oid::new_unwrap("1.2.840.113549.3.7");

// X.509 extensions (RFC 5280 §4.2.1).
/// `id-ce-subjectKeyIdentifier`.
pub const SUBJECT_KEY_IDENTIFIER: Oid = Oid::new_unwrap("2.5.29.14");
/// `id-ce-keyUsage`.
pub const KEY_USAGE: Oid = Oid::new_unwrap("2.5.29.15");
/// `id-ce-subjectAltName`.
pub const SUBJECT_ALT_NAME: Oid = Oid::new_unwrap("2.5.29.17");
/// `id-ce-basicConstraints`.
pub const BASIC_CONSTRAINTS: Oid = Oid::new_unwrap("2.5.29.19");
/// `id-ce-authorityKeyIdentifier`.
pub const AUTHORITY_KEY_IDENTIFIER: Oid = Oid::new_unwrap("2.5.29.35");
/// `id-ce-extKeyUsage`.
pub const EXT_KEY_USAGE: Oid = Oid::new_unwrap("2.5.29.37");
/// `id-kp-clientAuth`.
pub const KP_CLIENT_AUTH: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.2");
