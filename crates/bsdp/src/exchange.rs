//! The client's side of a BSDP exchange, as messages: building
//! `INFORM[LIST]` and `INFORM[SELECT]`, and reading the server's ACKs.
//! Used by tests, benchmarks, the `bsdp-list` example and anything that
//! wants to probe a NetBoot server.

use std::net::Ipv4Addr;

use crate::bsdp::{BootImage, BsdpMessageType, BsdpOptions, ImageId, VERSION_1_1, VendorClass};
use crate::codec::Decode;
use crate::dhcp::{MessageType, Op, Packet, code};
use crate::error::{DecodeError, DecodeErrorKind, EncodeError};

/// What a client says about itself in an `INFORM`.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct InformRequest {
    /// Transaction id.
    pub xid: u32,
    /// The client's Ethernet address.
    pub mac: [u8; 6],
    /// The client's IPv4 address (`ciaddr`; BSDP clients have one).
    pub ciaddr: Ipv4Addr,
    /// Architecture and model, sent as option 60.
    pub vendor_class: VendorClass,
    /// BSDP version (default 1.1).
    pub version: u16,
    /// Reply port (sub-option 5), when not 68.
    pub reply_port: Option<u16>,
    /// Largest reply accepted, sent as option 57 and sub-option 12.
    pub max_message_size: Option<u16>,
    /// Image attributes filter list (sub-option 11).
    pub attributes_filter_list: Option<Vec<u16>>,
}

impl InformRequest {
    /// A request from `mac` at `ciaddr` for `arch`/`model`, BSDP 1.1.
    pub fn new(mac: [u8; 6], ciaddr: Ipv4Addr, arch: &str, model: &str) -> Self {
        Self {
            xid: 0,
            mac,
            ciaddr,
            vendor_class: VendorClass {
                arch: arch.to_owned(),
                model: model.to_owned(),
            },
            version: VERSION_1_1,
            reply_port: None,
            max_message_size: None,
            attributes_filter_list: None,
        }
    }

    /// `INFORM[LIST]`.
    pub fn list(&self) -> Result<Packet, EncodeError> {
        self.inform(BsdpOptions {
            message_type: Some(BsdpMessageType::List),
            ..BsdpOptions::default()
        })
    }

    /// `INFORM[SELECT]` of `image` from `server`.
    pub fn select(&self, server: Ipv4Addr, image: ImageId) -> Result<Packet, EncodeError> {
        self.inform(BsdpOptions {
            message_type: Some(BsdpMessageType::Select),
            server_identifier: Some(server),
            selected_boot_image: Some(image),
            ..BsdpOptions::default()
        })
    }

    fn inform(&self, mut o: BsdpOptions) -> Result<Packet, EncodeError> {
        o.version = Some(self.version);
        o.reply_port = self.reply_port;
        o.max_message_size = self.max_message_size;
        o.attributes_filter_list = self.attributes_filter_list.clone();
        let mut p = Packet::new(Op::Request);
        p.xid = self.xid;
        p.ciaddr = self.ciaddr;
        p.chaddr[..6].copy_from_slice(&self.mac);
        p.options
            .set(code::MESSAGE_TYPE, [u8::from(MessageType::Inform)]);
        p.options.set(
            code::PARAMETER_REQUEST_LIST,
            [code::VENDOR_CLASS, code::VENDOR_SPECIFIC],
        );
        if let Some(m) = self.max_message_size {
            p.options.set(code::MAX_MESSAGE_SIZE, m.to_be_bytes());
        }
        p.options
            .set(code::VENDOR_CLASS, self.vendor_class.to_bytes());
        for instance in o.encode_instances()? {
            p.options.push(code::VENDOR_SPECIFIC, instance);
        }
        Ok(p)
    }
}

/// A server's `ACK` to a BSDP `INFORM`, read.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Ack {
    /// Transaction id.
    pub xid: u32,
    /// LIST, SELECT or FAILED.
    pub message_type: BsdpMessageType,
    /// The server (option 54).
    pub server_identifier: Option<Ipv4Addr>,
    /// Server priority (LIST).
    pub server_priority: Option<u16>,
    /// Default image (LIST).
    pub default_image: Option<ImageId>,
    /// Selected image (LIST: the client's current choice; SELECT: the one
    /// acknowledged).
    pub selected_image: Option<ImageId>,
    /// The offered images (LIST, BSDP 1.1).
    pub images: Vec<BootImage>,
    /// The booter's TFTP path (`file`, SELECT).
    pub boot_file: Option<String>,
    /// The TFTP server (`siaddr`).
    pub tftp_server: Ipv4Addr,
    /// The root path (option 17, SELECT).
    pub root_path: Option<String>,
    /// Machine name (sub-option 130, SELECT).
    pub machine_name: Option<String>,
}

impl Ack {
    /// Reads a reply datagram.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::from_packet(&Packet::decode(bytes)?)
    }

    /// Reads an already decoded reply.
    pub fn from_packet(p: &Packet) -> Result<Self, DecodeError> {
        if p.op != Op::Reply || p.message_type() != Some(MessageType::Ack) {
            return Err(DecodeError::new(DecodeErrorKind::BadValue, 0));
        }
        let vs = p
            .options
            .get(code::VENDOR_SPECIFIC)
            .ok_or(DecodeError::new(DecodeErrorKind::NotBsdp, 0))?;
        let o = BsdpOptions::decode(vs)?;
        let message_type = o
            .message_type
            .ok_or(DecodeError::new(DecodeErrorKind::NotBsdp, 0))?;
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        Ok(Self {
            xid: p.xid,
            message_type,
            server_identifier: p.server_identifier(),
            server_priority: o.server_priority,
            default_image: o.default_boot_image,
            selected_image: o.selected_boot_image,
            images: o.boot_image_list.unwrap_or_default(),
            boot_file: p.file_str().filter(|s| !s.is_empty()).map(str::to_owned),
            tftp_server: p.siaddr,
            root_path: p.options.get(code::ROOT_PATH).map(text),
            machine_name: o.machine_name.as_deref().map(text),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Encode;

    #[test]
    fn list_request_shape() {
        let mut r = InformRequest::new(
            [1, 2, 3, 4, 5, 6],
            Ipv4Addr::new(10, 0, 0, 9),
            "i386",
            "iMac14,2",
        );
        r.xid = 77;
        r.max_message_size = Some(1500);
        r.reply_port = Some(1019);
        let p = Packet::decode(&r.list().unwrap().to_vec().unwrap()).unwrap();
        assert_eq!(p.message_type(), Some(MessageType::Inform));
        assert_eq!(p.max_message_size(), Some(1500));
        assert_eq!(p.vendor_class(), Some(&b"AAPLBSDPC/i386/iMac14,2"[..]));
        let o = BsdpOptions::decode(p.options.get(code::VENDOR_SPECIFIC).unwrap()).unwrap();
        assert_eq!(o.message_type, Some(BsdpMessageType::List));
        assert_eq!(o.version, Some(VERSION_1_1));
        assert_eq!(o.reply_port, Some(1019));
        assert_eq!(o.max_message_size, Some(1500));
        assert_eq!(p.xid, 77);
        assert_eq!(p.mac_address(), Some([1, 2, 3, 4, 5, 6]));
    }

    #[test]
    fn ack_refuses_requests_and_non_bsdp() {
        let r = InformRequest::new([1; 6], Ipv4Addr::new(10, 0, 0, 9), "i386", "iMac14,2");
        let p = r.list().unwrap();
        assert!(Ack::from_packet(&p).is_err());
        let mut reply = Packet::new(Op::Reply);
        reply.options.set(code::MESSAGE_TYPE, [5]);
        assert_eq!(
            Ack::from_packet(&reply).unwrap_err().kind,
            DecodeErrorKind::NotBsdp
        );
    }
}
