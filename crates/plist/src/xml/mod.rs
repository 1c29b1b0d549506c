//! The XML encoding: `<plist version="1.0">` documents as described by
//! Apple's DTD, `http://www.apple.com/DTDs/PropertyList-1.0.dtd`.

pub(crate) mod read;
pub(crate) mod write;
