//! Catalog downloads.
