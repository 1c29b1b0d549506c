//! Rotating, compressed log files and the process-wide `tracing` subscriber.
//!
//! # Files
//!
//! An executable named `cm-proxy` logging into `dir` writes:
//!
//! | file | what |
//! |---|---|
//! | `dir/cm-proxy.log` | the live log, appended to (also across restarts) |
//! | `dir/cm-proxy.1.log.gz` | the most recent archive (gzip) |
//! | `dir/cm-proxy.2.log.gz` ... | older archives, one higher per rotation |
//! | `dir/cm-proxy.log.rotating` | transient: the closed live file while it is being compressed |
//!
//! # Rotation
//!
//! The unit of writing is a **record**: one `tracing` event, or the complete
//! lines handed to one `write` call. Before a record is appended, if the live
//! file is not empty and the record would take it past `max_bytes`, the live
//! file is closed and rotated first, so a record is never split between two
//! files, and the live file never exceeds `max_bytes` unless a single record
//! is itself larger (such a record is written whole, alone in a fresh file).
//!
//! Rotating renames the live file to `<exe>.log.rotating`, opens a new live
//! file, and hands the closed file to a background thread which shifts the
//! archives (`.1` → `.2`, ...), deletes those beyond the count limit and
//! compresses the closed file to `<exe>.1.log.gz` (through a `.tmp` file and
//! a rename, so a reader never sees a half-written archive). At most one
//! compression runs at a time: a rotation that finds the previous one still
//! running waits for it. [`RotatingFile::sync`] and dropping the
//! [`LogGuard`] wait for it too. A `.rotating` file left behind by a crash is
//! compressed the next time the log is opened.
//!
//! Failures never lose a line: if compression fails, the closed file stays
//! as `.rotating` (the error is printed on stderr and returned by the next
//! [`RotatingFile::sync`]), and until a later rotation manages to archive it
//! the live file keeps growing instead of replacing it.
//!
//! # Limits
//!
//! - **Size** (`max_bytes`): default 1 MiB (1,048,576 bytes), clamped to
//!   200 KiB (204,800 bytes) ..= 4 MiB (4,194,304 bytes).
//! - **Count** (`max_files`): default 10, clamped to 1 ..= 20. The count is the
//!   **total number of files, the live log included**: with `max_files = 10`
//!   there is the live `<exe>.log` plus at most 9 archives `<exe>.1.log.gz` ..
//!   `<exe>.9.log.gz`. With `max_files = 1` no archive is kept: a rotation
//!   discards the closed file. Archives numbered beyond the limit (left by an
//!   earlier, higher limit) are deleted when the log is opened and at every
//!   rotation.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Write};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use flate2::Compression;
use flate2::write::GzEncoder;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::error::{Error, Result};

/// How a process logs: where, how much, and what.
///
/// Build it with [`LogConfig::new`] and adjust the public fields; the limits
/// are clamped when the log is opened (see the [module docs](self)).
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct LogConfig {
    /// The directory holding the log files; created if missing.
    pub dir: PathBuf,
    /// The executable's name, without extension or path: `cm-proxy` writes
    /// `cm-proxy.log`.
    pub exe_name: String,
    /// Size limit of the live file in bytes, clamped to [`LogConfig::MAX_BYTES_RANGE`].
    pub max_bytes: u64,
    /// Number of files kept, the live file included, clamped to
    /// [`LogConfig::MAX_FILES_RANGE`].
    pub max_files: u32,
    /// Which events to keep, in `RUST_LOG` syntax (`info`,
    /// `info,pippin_service=debug`, ...).
    pub filter: String,
    /// Whether to write every line to stderr as well.
    pub also_stderr: bool,
}

impl LogConfig {
    /// Default size limit: 1 MiB.
    pub const DEFAULT_MAX_BYTES: u64 = 1024 * 1024;
    /// Allowed size limits: 200 KiB ..= 4 MiB.
    pub const MAX_BYTES_RANGE: RangeInclusive<u64> = 200 * 1024..=4 * 1024 * 1024;
    /// Default file count: 10 (the live file and 9 archives).
    pub const DEFAULT_MAX_FILES: u32 = 10;
    /// Allowed file counts: 1 ..= 20.
    pub const MAX_FILES_RANGE: RangeInclusive<u32> = 1..=20;
    /// Default filter: `info`.
    pub const DEFAULT_FILTER: &'static str = "info";

    /// A configuration with the default limits and filter, logging to the
    /// file only.
    pub fn new(dir: impl Into<PathBuf>, exe_name: impl Into<String>) -> Self {
        Self {
            dir: dir.into(),
            exe_name: exe_name.into(),
            max_bytes: Self::DEFAULT_MAX_BYTES,
            max_files: Self::DEFAULT_MAX_FILES,
            filter: Self::DEFAULT_FILTER.to_owned(),
            also_stderr: false,
        }
    }

    /// The size limit in force: `max_bytes` clamped to [`Self::MAX_BYTES_RANGE`].
    pub fn effective_max_bytes(&self) -> u64 {
        clamp(self.max_bytes, Self::MAX_BYTES_RANGE)
    }

    /// The file count in force: `max_files` clamped to [`Self::MAX_FILES_RANGE`].
    pub fn effective_max_files(&self) -> u32 {
        clamp(self.max_files, Self::MAX_FILES_RANGE)
    }
}

/// The `[log]` section of a component's TOML file; the same fields also
/// carry the values given by flags and environment variables, which
/// [`LogSection::config`] lays over the file's.
#[derive(Clone, Debug, Default, Eq, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    /// Directory of the log files [default `./logs`].
    pub dir: Option<PathBuf>,
    /// Rotate at this size, bytes (default 1 MiB, clamped 200 KiB..4 MiB).
    pub max_bytes: Option<u64>,
    /// Files kept, the live one included (default 10, clamped 1..20).
    pub max_files: Option<u32>,
    /// Filter, `RUST_LOG` syntax (default `info`).
    pub level: Option<String>,
}

impl LogSection {
    /// The log of `exe_name`: each value from `over` (flags and
    /// environment) if given, else from this section, else the default
    /// (`./logs`, [`LogConfig`]'s limits and filter).
    pub fn config(&self, over: &Self, exe_name: &str, also_stderr: bool) -> LogConfig {
        let dir = over
            .dir
            .clone()
            .or_else(|| self.dir.clone())
            .unwrap_or_else(|| PathBuf::from("./logs"));
        let mut config = LogConfig::new(dir, exe_name);
        if let Some(v) = over.max_bytes.or(self.max_bytes) {
            config.max_bytes = v;
        }
        if let Some(v) = over.max_files.or(self.max_files) {
            config.max_files = v;
        }
        if let Some(v) = over.level.clone().or_else(|| self.level.clone()) {
            config.filter = v;
        }
        config.also_stderr = also_stderr;
        config
    }
}

fn clamp<T: Ord + Copy>(v: T, range: RangeInclusive<T>) -> T {
    v.clamp(*range.start(), *range.end())
}

/// Installs the process-wide `tracing` subscriber described by `config`, and
/// routes records of the `log` crate (used by rustls and others) into it.
///
/// Lines are human-readable: an RFC 3339 UTC timestamp with microseconds, the
/// level, the target, the message and the event's fields, for example
///
/// ```text
/// 2025-01-31T09:15:02.123456Z  INFO cm_proxy::mdm: check-in udid="0000..." message_type="TokenUpdate"
/// ```
///
/// Keep the returned guard alive for the life of the process: dropping it
/// waits for a running compression to finish and flushes the file. Fails if
/// the log directory cannot be created, the filter does not parse, or a
/// global subscriber is already installed.
pub fn init_logging(config: LogConfig) -> Result<LogGuard> {
    let (dispatch, guard) = build_subscriber(&config)?;
    dispatch
        .try_init()
        .map_err(|e| Error::LogInit(e.to_string()))?;
    Ok(guard)
}

/// Builds the subscriber [`init_logging`] would install, without installing
/// it: for scoped use with [`tracing::dispatcher::with_default`] (tests, or a
/// host process that routes components to different files).
pub fn build_subscriber(config: &LogConfig) -> Result<(tracing::Dispatch, LogGuard)> {
    let filter = EnvFilter::try_new(&config.filter).map_err(|e| Error::LogFilter {
        filter: config.filter.clone(),
        message: e.to_string(),
    })?;
    let file = RotatingFile::open(
        &config.dir,
        &config.exe_name,
        config.max_bytes,
        config.max_files,
    )?;
    let file_layer = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(file.clone());
    let stderr_layer = config.also_stderr.then(|| {
        tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(io::stderr)
    });
    let subscriber = tracing_subscriber::registry()
        .with(filter)
        .with(file_layer)
        .with(stderr_layer);
    Ok((tracing::Dispatch::new(subscriber), LogGuard { file }))
}

/// Keeps the log going; on drop, waits for a running compression and flushes
/// the live file.
#[derive(Debug)]
#[must_use = "dropping the guard stops waiting for log compression; keep it alive"]
pub struct LogGuard {
    file: RotatingFile,
}

impl LogGuard {
    /// The log file the subscriber writes to.
    pub fn file(&self) -> &RotatingFile {
        &self.file
    }
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        if let Err(e) = self.file.sync() {
            eprintln!("log {}: {e}", self.file.path().display());
        }
    }
}

/// A size-limited log file that rotates into gzip archives; see the
/// [module docs](self) for the file names and rules.
///
/// It is cheap to clone (clones share the file) and safe to use from many
/// threads: records are appended under a lock, whole. Use it as a
/// [`MakeWriter`] for `tracing-subscriber` (each event is one record), or
/// directly as an [`io::Write`], where each `write` call is one record and
/// should therefore hold complete lines.
#[derive(Clone)]
pub struct RotatingFile {
    shared: Arc<Shared>,
}

struct Shared {
    layout: Layout,
    max_bytes: u64,
    state: Mutex<State>,
}

/// Where the files are and how many to keep: all a compression job needs.
#[derive(Clone)]
struct Layout {
    dir: PathBuf,
    exe_name: String,
    max_files: u32,
}

struct State {
    /// The live file; `None` after a failed reopen (retried at the next record).
    file: Option<File>,
    /// Bytes in the live file.
    size: u64,
    /// The running compression, if any.
    job: Option<JoinHandle<io::Result<()>>>,
    /// The last failure of a background compression, reported by `sync`.
    job_error: Option<io::Error>,
}

impl std::fmt::Debug for RotatingFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RotatingFile")
            .field("path", &self.path())
            .field("max_bytes", &self.shared.max_bytes)
            .field("max_files", &self.shared.layout.max_files)
            .finish_non_exhaustive()
    }
}

impl RotatingFile {
    /// Opens (creating if needed) `<dir>/<exe_name>.log` for appending, with
    /// the limits clamped as [`LogConfig`] describes. Creates `dir` if
    /// missing, compresses a `.rotating` file left by a crash, and deletes
    /// archives beyond the count limit.
    pub fn open(
        dir: impl AsRef<Path>,
        exe_name: &str,
        max_bytes: u64,
        max_files: u32,
    ) -> Result<Self> {
        Self::open_unclamped(
            dir.as_ref(),
            exe_name,
            clamp(max_bytes, LogConfig::MAX_BYTES_RANGE),
            clamp(max_files, LogConfig::MAX_FILES_RANGE),
        )
    }

    /// [`RotatingFile::open`] without the clamps, so that tests can rotate
    /// after a few bytes. `max_bytes` and `max_files` must be at least 1.
    pub(crate) fn open_unclamped(
        dir: &Path,
        exe_name: &str,
        max_bytes: u64,
        max_files: u32,
    ) -> Result<Self> {
        validate_exe_name(exe_name)?;
        let layout = Layout {
            dir: dir.to_path_buf(),
            exe_name: exe_name.to_owned(),
            max_files: max_files.max(1),
        };
        fs::create_dir_all(dir).map_err(|e| Error::io("create directory", dir, e))?;
        let pending = layout.pending_path();
        if pending.exists() {
            layout
                .archive()
                .map_err(|e| Error::io("compress", &pending, e))?;
        }
        layout
            .prune(layout.max_files - 1)
            .map_err(|e| Error::io("clean up archives in", dir, e))?;
        let live = layout.live_path();
        let file = open_append(&live).map_err(|e| Error::io("open", &live, e))?;
        let size = file
            .metadata()
            .map_err(|e| Error::io("inspect", &live, e))?
            .len();
        Ok(Self {
            shared: Arc::new(Shared {
                layout,
                max_bytes: max_bytes.max(1),
                state: Mutex::new(State {
                    file: Some(file),
                    size,
                    job: None,
                    job_error: None,
                }),
            }),
        })
    }

    /// The live log file, `<dir>/<exe_name>.log`.
    pub fn path(&self) -> PathBuf {
        self.shared.layout.live_path()
    }

    /// The path of archive number `n` (1 is the most recent):
    /// `<dir>/<exe_name>.<n>.log.gz`.
    pub fn archive_path(&self, n: u32) -> PathBuf {
        self.shared.layout.archive_path(n)
    }

    /// The size limit in force, in bytes.
    pub fn max_bytes(&self) -> u64 {
        self.shared.max_bytes
    }

    /// The file count in force (live file included).
    pub fn max_files(&self) -> u32 {
        self.shared.layout.max_files
    }

    /// Appends `record` whole to the live file, rotating first if it would
    /// pass the size limit.
    pub fn write_record(&self, record: &[u8]) -> io::Result<()> {
        if record.is_empty() {
            return Ok(());
        }
        let mut guard = self.shared.lock();
        let state = &mut *guard;
        let len = record.len() as u64;
        if state.size > 0 && state.size.saturating_add(len) > self.shared.max_bytes {
            self.shared.rotate(state);
        }
        let file = match state.file.as_mut() {
            Some(file) => file,
            None => {
                let file = open_append(&self.shared.layout.live_path())?;
                state.size = file.metadata()?.len();
                state.file.insert(file)
            }
        };
        file.write_all(record)?;
        state.size += len;
        Ok(())
    }

    /// Flushes the live file and waits for a running compression; reports a
    /// compression failure that happened since the last call.
    pub fn sync(&self) -> io::Result<()> {
        let mut state = self.shared.lock();
        if let Some(job) = state.job.take() {
            Shared::finish(&mut state, job);
        }
        if let Some(file) = state.file.as_mut() {
            file.flush()?;
        }
        match state.job_error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the state consistent enough
        // to keep logging (at worst a size count off by one record).
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Closes the live file, hands it to a compression thread and opens a new
    /// one. Failures are reported on stderr and never lose the record about
    /// to be written: at worst the live file keeps growing.
    fn rotate(&self, state: &mut State) {
        state.file = None;
        if let Some(job) = state.job.take() {
            Self::finish(state, job);
        }
        let layout = &self.layout;
        let live = layout.live_path();
        let mut moved_aside = true;
        if layout.max_files == 1 {
            if let Err(e) = fs::remove_file(&live)
                && e.kind() != io::ErrorKind::NotFound
            {
                report(&live, "remove", &e);
            }
        } else {
            let pending = layout.pending_path();
            // A closed file whose compression failed is still waiting:
            // archive it now, and never rename over it.
            if pending.exists()
                && let Err(e) = layout.archive()
            {
                report(&pending, "compress", &e);
            }
            let renamed = match pending.exists() {
                true => Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "the previous log file is still waiting for compression",
                )),
                false => fs::rename(&live, &pending),
            };
            match renamed {
                Ok(()) => {
                    let job = layout.clone();
                    let spawned = std::thread::Builder::new()
                        .name("log-compress".to_owned())
                        .spawn(move || job.archive());
                    match spawned {
                        Ok(handle) => state.job = Some(handle),
                        Err(e) => {
                            report(&pending, "start compressing", &e);
                            if let Err(e) = layout.archive() {
                                report(&pending, "compress", &e);
                            }
                        }
                    }
                }
                Err(e) => {
                    report(&live, "rotate", &e);
                    moved_aside = false;
                }
            }
        }
        match open_append(&live) {
            Ok(file) => {
                // After a failed rename the old file is still there: count
                // from zero anyway, so that the next attempt comes after
                // another `max_bytes` rather than at every record.
                state.size = match moved_aside {
                    true => file.metadata().map(|m| m.len()).unwrap_or(0),
                    false => 0,
                };
                state.file = Some(file);
            }
            Err(e) => report(&live, "reopen", &e),
        }
    }

    fn finish(state: &mut State, job: JoinHandle<io::Result<()>>) {
        match job.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                eprintln!("log compression failed: {e}");
                state.job_error = Some(e);
            }
            Err(_) => {
                eprintln!("log compression panicked");
                state.job_error = Some(io::Error::other("log compression panicked"));
            }
        }
    }
}

impl Layout {
    fn live_path(&self) -> PathBuf {
        self.dir.join(format!("{}.log", self.exe_name))
    }

    fn pending_path(&self) -> PathBuf {
        self.dir.join(format!("{}.log.rotating", self.exe_name))
    }

    fn archive_path(&self, n: u32) -> PathBuf {
        self.dir.join(format!("{}.{n}.log.gz", self.exe_name))
    }

    /// Turns the closed file (the pending path) into archive 1: deletes the
    /// archives that would pass the count limit, shifts the others up by one,
    /// compresses, and removes the closed file.
    fn archive(&self) -> io::Result<()> {
        let pending = self.pending_path();
        let keep = self.max_files - 1;
        if keep == 0 {
            return fs::remove_file(pending);
        }
        // Archive n becomes n + 1, so only those below `keep` survive.
        self.prune(keep - 1)?;
        for n in (1..keep).rev() {
            match fs::rename(self.archive_path(n), self.archive_path(n + 1)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        let tmp = self.dir.join(format!("{}.1.log.gz.tmp", self.exe_name));
        {
            let mut input = BufReader::new(File::open(&pending)?);
            let out = BufWriter::new(File::create(&tmp)?);
            let mut gz = GzEncoder::new(out, Compression::default());
            io::copy(&mut input, &mut gz)?;
            gz.finish()?
                .into_inner()
                .map_err(io::IntoInnerError::into_error)?;
        }
        fs::rename(&tmp, self.archive_path(1))?;
        fs::remove_file(pending)
    }

    /// Deletes the archives numbered above `keep`, and a stray `.tmp`.
    fn prune(&self, keep: u32) -> io::Result<()> {
        let prefix = format!("{}.", self.exe_name);
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let Some(rest) = name.strip_prefix(&prefix) else {
                continue;
            };
            let doomed = if rest == "1.log.gz.tmp" {
                true
            } else if let Some(num) = rest.strip_suffix(".log.gz") {
                // A number too large for u64 is certainly beyond the limit.
                is_number(num) && num.parse::<u64>().map_or(true, |n| n > u64::from(keep))
            } else {
                false
            };
            if doomed {
                match fs::remove_file(entry.path()) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }
}

fn is_number(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn report(path: &Path, op: &str, e: &io::Error) {
    // Logging about the log would recurse; stderr is the only place left.
    eprintln!("log: cannot {op} {}: {e}", path.display());
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

fn validate_exe_name(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        Some("empty")
    } else if name.contains(['/', '\\']) || name == "." || name == ".." {
        Some("an executable name must not be a path")
    } else if name.chars().any(char::is_control) {
        Some("control characters are not allowed")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(Error::InvalidName {
            name: name.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

impl Write for RotatingFile {
    /// Appends `buf` whole as one record.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        (&*self).flush()
    }
}

impl Write for &RotatingFile {
    /// Appends `buf` whole as one record.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_record(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let mut state = self.shared.lock();
        match state.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl<'a> MakeWriter<'a> for RotatingFile {
    type Writer = RecordWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        RecordWriter {
            file: self,
            partial: Vec::new(),
        }
    }
}

/// A handle on a [`RotatingFile`] for one event: complete lines are appended
/// as soon as they are written; a trailing partial line is held back until
/// its newline arrives, or until `flush` or drop, so that lines written in
/// pieces are never interleaved with other threads' lines.
#[derive(Debug)]
pub struct RecordWriter<'a> {
    file: &'a RotatingFile,
    partial: Vec<u8>,
}

impl Write for RecordWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match buf.iter().rposition(|&b| b == b'\n') {
            None => self.partial.extend_from_slice(buf),
            Some(last) if self.partial.is_empty() => {
                self.file.write_record(&buf[..=last])?;
                self.partial.extend_from_slice(&buf[last + 1..]);
            }
            Some(last) => {
                self.partial.extend_from_slice(&buf[..=last]);
                let result = self.file.write_record(&self.partial);
                self.partial.clear();
                result?;
                self.partial.extend_from_slice(&buf[last + 1..]);
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.partial.is_empty() {
            let result = self.file.write_record(&self.partial);
            self.partial.clear();
            result?;
        }
        Ok(())
    }
}

impl Drop for RecordWriter<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.flush() {
            report(&self.file.path(), "write", &e);
        }
    }
}

#[cfg(test)]
mod tests;
