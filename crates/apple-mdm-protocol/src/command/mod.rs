//! MDM commands: what the server sends a device.
