//! Typed views of the SMS Provider classes the bridge uses.
