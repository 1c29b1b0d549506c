//! Typed results of commands, decoded from a command report's payload.
