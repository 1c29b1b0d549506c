//! Bounds on what a decoder accepts.

/// Bounds that every decoder checks while it reads, so that hostile input
/// costs at most a known amount of time and memory.
///
/// `Default` gives bounds generous enough for any real MDM message,
/// configuration profile, NetBoot image description or software-update
/// catalog; the setters tighten (or loosen) them:
///
/// ```
/// use pippin_plist::Limits;
///
/// let mut limits = Limits::default();
/// limits.max_input_len(256 * 1024).max_depth(16).max_values(10_000);
/// assert_eq!(limits.max_depth, 16);
/// ```
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Limits {
    /// Largest input accepted, in bytes ([`ErrorKind::TooLarge`] beyond).
    /// Default 16 MiB.
    ///
    /// A binary plist may share one string or data object between many
    /// parents; the bytes of strings and data it decodes to, counted once per
    /// use, may be at most four times this.
    ///
    /// [`ErrorKind::TooLarge`]: crate::ErrorKind::TooLarge
    pub max_input_len: usize,
    /// Deepest nesting of arrays and dictionaries ([`ErrorKind::TooDeep`]
    /// beyond). The root container is at depth 1; a scalar root has depth 0.
    /// Default 64.
    ///
    /// Decoding never recurses, whatever this is; but a decoded [`Value`] is
    /// dropped (and compared, cloned, formatted) recursively, so keep it
    /// within a few thousand.
    ///
    /// [`Value`]: crate::Value
    ///
    /// [`ErrorKind::TooDeep`]: crate::ErrorKind::TooDeep
    pub max_depth: usize,
    /// Most values in the decoded tree, containers and scalars alike, not
    /// counting dictionary keys ([`ErrorKind::TooManyValues`] beyond).
    /// Default 1,000,000.
    ///
    /// [`ErrorKind::TooManyValues`]: crate::ErrorKind::TooManyValues
    pub max_values: usize,
}

impl Limits {
    /// Default largest input, 16 MiB.
    pub const DEFAULT_MAX_INPUT_LEN: usize = 16 * 1024 * 1024;
    /// Default deepest nesting, 64.
    pub const DEFAULT_MAX_DEPTH: usize = 64;
    /// Default most values, 1,000,000.
    pub const DEFAULT_MAX_VALUES: usize = 1_000_000;

    /// The default limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`Limits::max_input_len`].
    pub fn max_input_len(&mut self, bytes: usize) -> &mut Self {
        self.max_input_len = bytes;
        self
    }

    /// Sets [`Limits::max_depth`].
    pub fn max_depth(&mut self, depth: usize) -> &mut Self {
        self.max_depth = depth;
        self
    }

    /// Sets [`Limits::max_values`].
    pub fn max_values(&mut self, values: usize) -> &mut Self {
        self.max_values = values;
        self
    }

    /// The most bytes of string and data contents a binary plist may decode
    /// to, counting shared objects once per use.
    pub(crate) fn max_payload(&self) -> usize {
        self.max_input_len.saturating_mul(4)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_input_len: Self::DEFAULT_MAX_INPUT_LEN,
            max_depth: Self::DEFAULT_MAX_DEPTH,
            max_values: Self::DEFAULT_MAX_VALUES,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_setters() {
        let mut l = Limits::new();
        assert_eq!(l.max_input_len, 16 * 1024 * 1024);
        assert_eq!(l.max_depth, 64);
        assert_eq!(l.max_values, 1_000_000);
        l.max_input_len(10).max_depth(2).max_values(3);
        assert_eq!((l.max_input_len, l.max_depth, l.max_values), (10, 2, 3));
        assert_eq!(l.max_payload(), 40);
    }
}
