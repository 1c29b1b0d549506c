//! Apple MDM protocol.
