//! TOML configuration files.
//!
//! Each component's binary crate declares its file as serde structs with
//! `#[serde(deny_unknown_fields)]` (a misspelt key is an error, not a silent
//! default) and loads it with [`load_toml`]. Errors name the file, the line
//! and the column. The convention for flags and environment variables on top
//! of the file is described, with a worked example, in the
//! [crate docs](crate#configuration).

use std::path::Path;

use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// Reads and parses the TOML file at `path` into `T`.
///
/// Fails with [`Error::Io`] if the file cannot be read, and with
/// [`Error::Config`] (file, 1-based line and column, message) if it is not
/// TOML or does not fit `T`: a missing key, a value of the wrong type, or an
/// unknown key when `T` denies unknown fields.
pub fn load_toml<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("read", path, e))?;
    parse_toml(&text, path)
}

/// Parses TOML `text` into `T`, naming `path` (where the text came from) in
/// errors; see [`load_toml`].
pub fn parse_toml<T: DeserializeOwned>(text: &str, path: &Path) -> Result<T> {
    toml::from_str(text).map_err(|e| {
        let (line, column) = match e.span() {
            Some(span) => line_column(text, span.start),
            None => (0, 0),
        };
        Error::Config {
            path: path.to_path_buf(),
            line,
            column,
            message: e.message().trim_end().to_owned(),
        }
    })
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct File {
        #[serde(default)]
        log: Log,
        server: Server,
    }

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, default)]
    struct Log {
        max_bytes: Option<u64>,
        filter: Option<String>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Server {
        public_host: String,
        #[serde(default = "default_port")]
        port: u16,
    }

    fn default_port() -> u16 {
        8760
    }

    #[test]
    fn loads_a_file() {
        let dir = test_support::tempdir();
        let path = dir.path().join("cm-proxy.toml");
        std::fs::write(
            &path,
            "[server]\npublic_host = \"mdm.example.test\"\n\n[log]\nfilter = \"debug\"\n",
        )
        .unwrap();
        let f: File = load_toml(&path).unwrap();
        assert_eq!(
            f,
            File {
                log: Log {
                    max_bytes: None,
                    filter: Some("debug".to_owned())
                },
                server: Server {
                    public_host: "mdm.example.test".to_owned(),
                    port: 8760
                },
            }
        );
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_position() {
        let text =
            "[server]\npublic_host = \"h\"\n\n[log]\nmax_bytes = 300000\nfliter = \"debug\"\n";
        let err = parse_toml::<File>(text, Path::new("/etc/pippin/cm-proxy.toml")).unwrap_err();
        let Error::Config {
            path,
            line,
            column,
            message,
        } = &err
        else {
            panic!("{err:?}");
        };
        assert_eq!(path, &PathBuf::from("/etc/pippin/cm-proxy.toml"));
        assert_eq!((*line, *column), (6, 1));
        assert!(message.contains("unknown field `fliter`"), "{message}");
        assert!(
            err.to_string()
                .starts_with("/etc/pippin/cm-proxy.toml:6:1: unknown field `fliter`"),
            "{err}"
        );
    }

    #[test]
    fn type_errors_and_syntax_errors_have_positions() {
        let err = parse_toml::<File>(
            "[server]\npublic_host = \"h\"\nport = \"eighty\"\n",
            Path::new("a.toml"),
        )
        .unwrap_err();
        assert!(
            matches!(
                &err,
                Error::Config {
                    line: 3,
                    column: 8,
                    ..
                }
            ),
            "{err:?}"
        );

        let err = parse_toml::<File>("[server\n", Path::new("b.toml")).unwrap_err();
        assert!(matches!(&err, Error::Config { line: 1, .. }), "{err:?}");

        let err = parse_toml::<File>("[log]\n", Path::new("c.toml")).unwrap_err();
        assert!(err.to_string().contains("server"), "{err}");
    }

    #[test]
    fn a_missing_file_is_an_io_error_naming_it() {
        let err = load_toml::<File>(Path::new("/nonexistent/pippin.toml")).unwrap_err();
        assert!(matches!(err, Error::Io { .. }));
        assert!(
            err.to_string().contains("/nonexistent/pippin.toml"),
            "{err}"
        );
    }

    #[test]
    fn columns_count_characters() {
        assert_eq!(line_column("ab\ncdé f", 9), (2, 6));
        assert_eq!(line_column("x", 0), (1, 1));
        assert_eq!(line_column("x", 99), (1, 2));
    }
}
