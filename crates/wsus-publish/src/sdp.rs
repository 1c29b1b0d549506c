//! Software Distribution Packages.
