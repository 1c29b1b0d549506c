//! The only module with `unsafe` code: the C declarations of the GSS-API
//! (RFC 2744, plus MIT's `gssapi_ext.h` extensions for IOV wrapping and
//! credential stores), loading the library at run time, and one safe Rust
//! function per C function used, each owning what the library hands back.
//!
//! Rules kept here:
//! - every pointer passed to the library points into memory owned by the
//!   caller's Rust values, alive for the whole call;
//! - every buffer, name, credential or context the library allocates is
//!   copied out (buffers) or wrapped in an owner whose `Drop` releases it;
//! - a length the library reports is never trusted beyond the memory we
//!   gave it (IOV buffers) or beyond [`MAX_LIBRARY_BUFFER`] (buffers it
//!   allocated).
//!
//! The layouts are those of MIT krb5 on Linux and the BSDs (no packing);
//! `OM_uint32` is a 32-bit unsigned integer and `size_t` is `usize`.

#![allow(unsafe_code)]

use std::ffi::{CString, c_char, c_int, c_void};
use std::path::Path;
use std::ptr;
use std::sync::Arc;

use crate::error::{GssError, Status};

/// `OM_uint32`.
type OmUint32 = u32;

/// `gss_buffer_desc` (RFC 2744 section 3.2):
/// `typedef struct gss_buffer_desc_struct { size_t length; void *value; }`.
#[repr(C)]
struct BufferDesc {
    length: usize,
    value: *mut c_void,
}

impl BufferDesc {
    const EMPTY: Self = Self {
        length: 0,
        value: ptr::null_mut(),
    };

    /// A descriptor that lends `data` to the library for one call. The
    /// library only reads input buffers, so the `*mut` is never written
    /// through.
    fn borrow(data: &[u8]) -> Self {
        Self {
            length: data.len(),
            value: data.as_ptr().cast_mut().cast(),
        }
    }

    /// A descriptor that lends `data` to the library for one call, to be
    /// read and written in place (IOV buffers).
    fn borrow_mut(data: &mut [u8]) -> Self {
        Self {
            length: data.len(),
            value: data.as_mut_ptr().cast(),
        }
    }
}

/// `gss_OID_desc` (RFC 2744 section 3.3):
/// `typedef struct gss_OID_desc_struct { OM_uint32 length; void *elements; }`.
#[repr(C)]
struct OidDesc {
    length: OmUint32,
    elements: *mut c_void,
}

/// `gss_OID_set_desc` (RFC 2744 section 3.4):
/// `typedef struct gss_OID_set_desc_struct { size_t count; gss_OID elements; }`.
#[repr(C)]
struct OidSetDesc {
    count: usize,
    elements: *mut OidDesc,
}

/// `struct gss_channel_bindings_struct` (RFC 2744 section 3.11).
#[repr(C)]
struct ChannelBindingsDesc {
    initiator_addrtype: OmUint32,
    initiator_address: BufferDesc,
    acceptor_addrtype: OmUint32,
    acceptor_address: BufferDesc,
    application_data: BufferDesc,
}

/// `gss_iov_buffer_desc` (MIT `gssapi_ext.h`):
/// `typedef struct gss_iov_buffer_desc_struct { OM_uint32 type; gss_buffer_desc buffer; }`.
#[repr(C)]
struct IovBufferDesc {
    kind: OmUint32,
    buffer: BufferDesc,
}

/// `gss_key_value_element_desc` (MIT `gssapi_ext.h`, credential stores).
#[repr(C)]
struct KeyValueElement {
    key: *const c_char,
    value: *const c_char,
}

/// `gss_key_value_set_desc` (MIT `gssapi_ext.h`, credential stores).
#[repr(C)]
struct KeyValueSet {
    count: OmUint32,
    elements: *const KeyValueElement,
}

/// `gss_name_t`, `gss_cred_id_t`, `gss_ctx_id_t`: opaque pointers.
type Handle = *mut c_void;

/// `GSS_C_AF_UNSPEC`: no address in the channel bindings.
const GSS_C_AF_UNSPEC: OmUint32 = 0;
/// `status_type` for [`DisplayStatusFn`].
const GSS_C_GSS_CODE: c_int = 1;
const GSS_C_MECH_CODE: c_int = 2;
/// `cred_usage` values.
const GSS_C_INITIATE: c_int = 1;
const GSS_C_ACCEPT: c_int = 2;
/// IOV buffer types (`gssapi_ext.h`).
const GSS_IOV_BUFFER_TYPE_DATA: OmUint32 = 1;
const GSS_IOV_BUFFER_TYPE_HEADER: OmUint32 = 2;
const GSS_IOV_BUFFER_TYPE_PADDING: OmUint32 = 9;
/// Flag set by the library on a buffer it allocated.
const GSS_IOV_BUFFER_FLAG_ALLOCATED: OmUint32 = 0x0002_0000;
/// Mask of the routine and calling error fields of a major status.
const GSS_ERROR_MASK: OmUint32 = 0xffff_0000;
/// Supplementary `GSS_S_DUPLICATE_TOKEN | GSS_S_OLD_TOKEN |
/// GSS_S_UNSEQ_TOKEN`.
const REPLAYED_OR_REORDERED: OmUint32 = 2 | 4 | 8;
/// `GSS_S_CONTINUE_NEEDED`.
const GSS_S_CONTINUE_NEEDED: OmUint32 = 1;

/// The largest buffer the library may hand back that we copy out. Tokens
/// and messages are refused long before this on input; a larger report
/// means something is badly wrong and is an error, not a huge copy.
const MAX_LIBRARY_BUFFER: usize = 256 * 1024 * 1024;

type ImportNameFn = unsafe extern "C" fn(
    minor: *mut OmUint32,
    input_name_buffer: *const BufferDesc,
    input_name_type: *const OidDesc,
    output_name: *mut Handle,
) -> OmUint32;
type ReleaseNameFn = unsafe extern "C" fn(minor: *mut OmUint32, name: *mut Handle) -> OmUint32;
type DisplayNameFn = unsafe extern "C" fn(
    minor: *mut OmUint32,
    name: Handle,
    output_name_buffer: *mut BufferDesc,
    output_name_type: *mut *mut OidDesc,
) -> OmUint32;
type InitSecContextFn = unsafe extern "C" fn(
    minor: *mut OmUint32,
    claimant_cred: Handle,
    context: *mut Handle,
    target_name: Handle,
    mech_type: *const OidDesc,
    req_flags: OmUint32,
    time_req: OmUint32,
    input_chan_bindings: *const ChannelBindingsDesc,
    input_token: *const BufferDesc,
    actual_mech_type: *mut *mut OidDesc,
    output_token: *mut BufferDesc,
    ret_flags: *mut OmUint32,
    time_rec: *mut OmUint32,
) -> OmUint32;
type AcceptSecContextFn = unsafe extern "C" fn(
    minor: *mut OmUint32,
    context: *mut Handle,
    acceptor_cred: Handle,
    input_token: *const BufferDesc,
    input_chan_bindings: *const ChannelBindingsDesc,
    src_name: *mut Handle,
    mech_type: *mut *mut OidDesc,
    output_token: *mut BufferDesc,
    ret_flags: *mut OmUint32,
    time_rec: *mut OmUint32,
    delegated_cred: *mut Handle,
) -> OmUint32;
type DeleteSecContextFn = unsafe extern "C" fn(
    minor: *mut OmUint32,
    context: *mut Handle,
    output_token: *mut BufferDesc,
) -> OmUint32;
type ReleaseBufferFn =
    unsafe extern "C" fn(minor: *mut OmUint32, buffer: *mut BufferDesc) -> OmUint32;
type DisplayStatusFn = unsafe extern "C" fn(
    minor: *mut OmUint32,
    status_value: OmUint32,
    status_type: c_int,
    mech_type: *const OidDesc,
    message_context: *mut OmUint32,
    status_string: *mut BufferDesc,
) -> OmUint32;
type WrapFn = unsafe extern "C" fn(
    minor: *mut OmUint32,
    context: Handle,
    conf_req: c_int,
    qop_req: OmUint32,
    input: *const BufferDesc,
    conf_state: *mut c_int,
    output: *mut BufferDesc,
) -> OmUint32;
type UnwrapFn = unsafe extern "C" fn(
    minor: *mut OmUint32,
    context: Handle,
    input: *const BufferDesc,
    output: *mut BufferDesc,
    conf_state: *mut c_int,
    qop_state: *mut OmUint32,
) -> OmUint32;
type WrapIovFn = unsafe extern "C" fn(
    minor: *mut OmUint32,
    context: Handle,
    conf_req: c_int,
    qop_req: OmUint32,
    conf_state: *mut c_int,
    iov: *mut IovBufferDesc,
    iov_count: c_int,
) -> OmUint32;
type UnwrapIovFn = unsafe extern "C" fn(
    minor: *mut OmUint32,
    context: Handle,
    conf_state: *mut c_int,
    qop_state: *mut OmUint32,
    iov: *mut IovBufferDesc,
    iov_count: c_int,
) -> OmUint32;
type GetMicFn = unsafe extern "C" fn(
    minor: *mut OmUint32,
    context: Handle,
    qop_req: OmUint32,
    message: *const BufferDesc,
    token: *mut BufferDesc,
) -> OmUint32;
type VerifyMicFn = unsafe extern "C" fn(
    minor: *mut OmUint32,
    context: Handle,
    message: *const BufferDesc,
    token: *const BufferDesc,
    qop_state: *mut OmUint32,
) -> OmUint32;
type AcquireCredFromFn = unsafe extern "C" fn(
    minor: *mut OmUint32,
    desired_name: Handle,
    time_req: OmUint32,
    desired_mechs: *const OidSetDesc,
    cred_usage: c_int,
    cred_store: *const KeyValueSet,
    output_cred: *mut Handle,
    actual_mechs: *mut *mut OidSetDesc,
    time_rec: *mut OmUint32,
) -> OmUint32;
type ReleaseCredFn = unsafe extern "C" fn(minor: *mut OmUint32, cred: *mut Handle) -> OmUint32;

/// The functions this crate calls, resolved once at load time.
struct Functions {
    import_name: ImportNameFn,
    release_name: ReleaseNameFn,
    display_name: DisplayNameFn,
    init_sec_context: InitSecContextFn,
    accept_sec_context: AcceptSecContextFn,
    delete_sec_context: DeleteSecContextFn,
    release_buffer: ReleaseBufferFn,
    display_status: DisplayStatusFn,
    wrap: WrapFn,
    unwrap: UnwrapFn,
    wrap_iov: WrapIovFn,
    wrap_iov_length: WrapIovFn,
    unwrap_iov: UnwrapIovFn,
    get_mic: GetMicFn,
    verify_mic: VerifyMicFn,
    acquire_cred_from: AcquireCredFromFn,
    release_cred: ReleaseCredFn,
}

/// A loaded GSS-API library (MIT krb5's `libgssapi_krb5.so.2`).
///
/// Load it once with [`Library::load`] and share the [`Arc`]: every
/// context, credential and name holds on to it, so it stays loaded while
/// any of them lives. The library is opened with `RTLD_NODELETE`, so it is
/// never unmapped even after the last [`Arc`] is gone (MIT krb5 keeps
/// thread-specific data whose destructors must stay callable).
pub struct Library {
    functions: Functions,
    path: String,
    // Held so the library stays open; the function pointers above point
    // into it.
    _library: libloading::Library,
}

impl std::fmt::Debug for Library {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Library").field("path", &self.path).finish()
    }
}

/// `RTLD_NODELETE`: keep the library mapped after `dlclose`.
#[cfg(target_os = "linux")]
const RTLD_NODELETE: c_int = 0x1000;
#[cfg(all(unix, any(target_os = "macos", target_os = "ios")))]
const RTLD_NODELETE: c_int = 0x80;
#[cfg(all(
    unix,
    not(any(target_os = "linux", target_os = "macos", target_os = "ios"))
))]
const RTLD_NODELETE: c_int = 0;

fn open(path: &str) -> Result<libloading::Library, libloading::Error> {
    #[cfg(unix)]
    {
        use libloading::os::unix;
        // SAFETY: loading a shared library runs its initialisers. The
        // library named here is a GSS-API implementation chosen by the
        // administrator (the system's MIT krb5 by default); its
        // initialisers only set up its own state.
        unsafe {
            unix::Library::open(
                Some(path),
                unix::RTLD_NOW | unix::RTLD_LOCAL | RTLD_NODELETE,
            )
        }
        .map(Into::into)
    }
    #[cfg(not(unix))]
    {
        // SAFETY: as above.
        unsafe { libloading::Library::new(path) }
    }
}

/// Resolves `name` (NUL-terminated) in `lib` as a function of type `T`.
///
/// # Safety
/// `T` must be the function pointer type that matches the C declaration of
/// `name`.
unsafe fn symbol<T: Copy>(lib: &libloading::Library, name: &[u8]) -> Result<T, GssError> {
    // SAFETY: the caller guarantees that `T` is the symbol's type.
    match unsafe { lib.get::<T>(name) } {
        Ok(f) => Ok(*f),
        Err(e) => Err(GssError::Unavailable {
            reason: format!(
                "the GSS-API library has no {}: {e}",
                String::from_utf8_lossy(name.strip_suffix(b"\0").unwrap_or(name))
            ),
        }),
    }
}

impl Library {
    /// Opens the library at `path` (a file name searched the way the
    /// dynamic linker does, or a path) and resolves every function.
    pub(crate) fn open(path: &str) -> Result<Self, GssError> {
        let library = open(path).map_err(|e| GssError::Unavailable {
            reason: format!("cannot load {path}: {e}"),
        })?;
        // SAFETY (every `symbol` call): each type alias above is the
        // RFC 2744 / `gssapi_ext.h` declaration of the function named.
        let functions = unsafe {
            Functions {
                import_name: symbol(&library, b"gss_import_name\0")?,
                release_name: symbol(&library, b"gss_release_name\0")?,
                display_name: symbol(&library, b"gss_display_name\0")?,
                init_sec_context: symbol(&library, b"gss_init_sec_context\0")?,
                accept_sec_context: symbol(&library, b"gss_accept_sec_context\0")?,
                delete_sec_context: symbol(&library, b"gss_delete_sec_context\0")?,
                release_buffer: symbol(&library, b"gss_release_buffer\0")?,
                display_status: symbol(&library, b"gss_display_status\0")?,
                wrap: symbol(&library, b"gss_wrap\0")?,
                unwrap: symbol(&library, b"gss_unwrap\0")?,
                wrap_iov: symbol(&library, b"gss_wrap_iov\0")?,
                wrap_iov_length: symbol(&library, b"gss_wrap_iov_length\0")?,
                unwrap_iov: symbol(&library, b"gss_unwrap_iov\0")?,
                get_mic: symbol(&library, b"gss_get_mic\0")?,
                verify_mic: symbol(&library, b"gss_verify_mic\0")?,
                acquire_cred_from: symbol(&library, b"gss_acquire_cred_from\0")?,
                release_cred: symbol(&library, b"gss_release_cred\0")?,
            }
        };
        Ok(Self {
            functions,
            path: path.to_owned(),
            _library: library,
        })
    }

    /// The name or path the library was loaded from.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Copies a buffer the library allocated and releases it.
    fn take_buffer(&self, buffer: &mut BufferDesc) -> Result<Vec<u8>, GssError> {
        let copy = if buffer.value.is_null() || buffer.length == 0 {
            Ok(Vec::new())
        } else if buffer.length > MAX_LIBRARY_BUFFER {
            Err(GssError::State(
                "the GSS-API library returned an implausibly large buffer",
            ))
        } else {
            // SAFETY: the library filled `buffer` with `length` readable
            // bytes at `value`, which stay valid until released below.
            Ok(
                unsafe { std::slice::from_raw_parts(buffer.value.cast::<u8>(), buffer.length) }
                    .to_vec(),
            )
        };
        if !buffer.value.is_null() {
            let mut minor = 0;
            // SAFETY: `buffer` was allocated by this library and is
            // released exactly once; it is emptied afterwards.
            unsafe { (self.functions.release_buffer)(&mut minor, buffer) };
            *buffer = BufferDesc::EMPTY;
        }
        copy
    }

    /// The library's text for a status: the routine error, then the
    /// mechanism's minor code.
    fn status_text(&self, major: u32, minor: u32) -> String {
        let mut parts = Vec::new();
        for (value, kind) in [(major, GSS_C_GSS_CODE), (minor, GSS_C_MECH_CODE)] {
            // A status with only supplementary bits has no meaningful
            // minor code.
            if kind == GSS_C_MECH_CODE && (value == 0 || !is_error(major)) {
                continue;
            }
            let mut context: OmUint32 = 0;
            // A status has a handful of messages; the bound guards against
            // a library that never clears the message context.
            for _ in 0..8 {
                let mut out = BufferDesc::EMPTY;
                let mut ignored = 0;
                // SAFETY: all pointers are to locals alive for the call; a
                // null mechanism OID means "the default mechanism".
                let rc = unsafe {
                    (self.functions.display_status)(
                        &mut ignored,
                        value,
                        kind,
                        ptr::null(),
                        &mut context,
                        &mut out,
                    )
                };
                let text = self.take_buffer(&mut out).unwrap_or_default();
                if rc & GSS_ERROR_MASK != 0 {
                    break;
                }
                let text = String::from_utf8_lossy(&text).trim().to_owned();
                if !text.is_empty() {
                    parts.push(text);
                }
                if context == 0 {
                    break;
                }
            }
        }
        if parts.is_empty() {
            format!("GSS-API status {major:#010x}")
        } else {
            parts.join(": ")
        }
    }

    /// An error value for a failed call, with the library's description.
    fn error(&self, operation: &'static str, major: u32, minor: u32) -> GssError {
        GssError::from_status(Status {
            operation,
            major,
            minor,
            message: self.status_text(major, minor),
        })
    }
}

fn is_error(major: OmUint32) -> bool {
    major & GSS_ERROR_MASK != 0
}

/// An OID given by its DER contents octets.
fn oid(der: &'static [u8]) -> OidDesc {
    OidDesc {
        // The OIDs used are a few bytes long.
        length: der.len() as OmUint32,
        elements: der.as_ptr().cast_mut().cast(),
    }
}

/// Which kind of name [`import_name`] reads.
#[derive(Clone, Copy, Debug)]
pub(crate) enum NameType {
    /// `service@host` (`GSS_C_NT_HOSTBASED_SERVICE`, 1.2.840.113554.1.2.1.4).
    HostBasedService,
    /// A Kerberos principal, `primary/instance@REALM`
    /// (`GSS_KRB5_NT_PRINCIPAL_NAME`, 1.2.840.113554.1.2.2.1).
    KerberosPrincipal,
}

const NT_HOSTBASED_SERVICE: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x01, 0x04];
const NT_KRB5_PRINCIPAL: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02, 0x01];

/// An imported name (`gss_name_t`), released on drop.
pub(crate) struct Name {
    lib: Arc<Library>,
    raw: Handle,
}

// SAFETY: a GSS name is a heap object of the library with no tie to the
// thread that made it; MIT krb5 is thread-safe for distinct objects, and a
// `Name` is only used through `&self` for reads or `Drop`.
unsafe impl Send for Name {}

impl Drop for Name {
    fn drop(&mut self) {
        let mut minor = 0;
        // SAFETY: `raw` came from gss_import_name and is released once.
        unsafe { (self.lib.functions.release_name)(&mut minor, &mut self.raw) };
    }
}

/// `gss_import_name`.
pub(crate) fn import_name(
    lib: &Arc<Library>,
    name: &str,
    kind: NameType,
) -> Result<Name, GssError> {
    let buffer = BufferDesc::borrow(name.as_bytes());
    let name_type = oid(match kind {
        NameType::HostBasedService => NT_HOSTBASED_SERVICE,
        NameType::KerberosPrincipal => NT_KRB5_PRINCIPAL,
    });
    let mut raw: Handle = ptr::null_mut();
    let mut minor = 0;
    // SAFETY: `buffer` and `name_type` borrow live data for the call; the
    // library copies what it keeps.
    let major = unsafe { (lib.functions.import_name)(&mut minor, &buffer, &name_type, &mut raw) };
    if is_error(major) {
        return Err(lib.error("importing the target name", major, minor));
    }
    Ok(Name {
        lib: Arc::clone(lib),
        raw,
    })
}

/// `gss_display_name` of a name handle the library gave us (not owned).
fn display_name(lib: &Library, name: Handle) -> Option<String> {
    let mut out = BufferDesc::EMPTY;
    let mut minor = 0;
    // SAFETY: `name` is a live name handle; a null output type pointer is
    // allowed ("not wanted").
    let major =
        unsafe { (lib.functions.display_name)(&mut minor, name, &mut out, ptr::null_mut()) };
    let text = lib.take_buffer(&mut out).ok()?;
    if is_error(major) {
        return None;
    }
    String::from_utf8(text).ok()
}

/// An acquired credential (`gss_cred_id_t`), released on drop.
pub(crate) struct Cred {
    lib: Arc<Library>,
    raw: Handle,
}

// SAFETY: as for `Name`: a library object without thread affinity, used
// only by one context at a time (contexts take `&mut self`).
unsafe impl Send for Cred {}

impl Drop for Cred {
    fn drop(&mut self) {
        let mut minor = 0;
        // SAFETY: `raw` came from gss_acquire_cred_from, released once.
        unsafe { (self.lib.functions.release_cred)(&mut minor, &mut self.raw) };
    }
}

/// Whether a credential initiates or accepts contexts.
#[derive(Clone, Copy, Debug)]
pub(crate) enum CredUsage {
    Initiate,
    Accept,
}

/// A file path as a keytab or ccache name with an explicit `FILE:` type, so
/// that a colon in the path is never read as a type prefix.
pub(crate) fn file_name(path: &Path) -> String {
    format!("FILE:{}", path.display())
}

/// `gss_acquire_cred_from` for the mechanisms `mechs` (DER OIDs), with the
/// MIT credential store entries `store` (`ccache`, `client_keytab`,
/// `keytab`, ...). An empty store means the library's defaults.
pub(crate) fn acquire_cred(
    lib: &Arc<Library>,
    usage: CredUsage,
    mechs: &[&'static [u8]],
    store: &[(&str, &str)],
) -> Result<Cred, GssError> {
    let mut strings = Vec::with_capacity(store.len());
    for (key, value) in store {
        let key = CString::new(*key).map_err(|_| GssError::InvalidInput {
            what: "credential store key",
            reason: "contains a NUL byte",
        })?;
        let value = CString::new(*value).map_err(|_| GssError::InvalidInput {
            what: "credential store value",
            reason: "contains a NUL byte",
        })?;
        strings.push((key, value));
    }
    let elements: Vec<KeyValueElement> = strings
        .iter()
        .map(|(k, v)| KeyValueElement {
            key: k.as_ptr(),
            value: v.as_ptr(),
        })
        .collect();
    let set = KeyValueSet {
        // A store has a few entries.
        count: elements.len() as OmUint32,
        elements: elements.as_ptr(),
    };
    let mut oids: Vec<OidDesc> = mechs.iter().map(|m| oid(m)).collect();
    let mech_set = OidSetDesc {
        count: oids.len(),
        elements: oids.as_mut_ptr(),
    };
    let usage = match usage {
        CredUsage::Initiate => GSS_C_INITIATE,
        CredUsage::Accept => GSS_C_ACCEPT,
    };
    let store_ptr = if elements.is_empty() {
        ptr::null()
    } else {
        &set as *const KeyValueSet
    };
    let mut raw: Handle = ptr::null_mut();
    let mut minor = 0;
    // SAFETY: every pointer is to a local (`set`, `elements`, `strings`,
    // `mech_set`, `oids`) alive for the call; the library copies what it
    // keeps. Null desired name and outputs mean "default" / "not wanted".
    let major = unsafe {
        (lib.functions.acquire_cred_from)(
            &mut minor,
            ptr::null_mut(),
            0,
            &mech_set,
            usage,
            store_ptr,
            &mut raw,
            ptr::null_mut(),
            ptr::null_mut(),
        )
    };
    if is_error(major) {
        if !raw.is_null() {
            let mut ignored = 0;
            // SAFETY: a handle set despite the error is still ours to free.
            unsafe { (lib.functions.release_cred)(&mut ignored, &mut raw) };
        }
        return Err(lib.error("acquiring credentials", major, minor));
    }
    Ok(Cred {
        lib: Arc::clone(lib),
        raw,
    })
}

/// A security context (`gss_ctx_id_t`), deleted on drop. Starts empty
/// (`GSS_C_NO_CONTEXT`); the first init/accept call creates it.
pub(crate) struct SecContext {
    lib: Arc<Library>,
    raw: Handle,
}

// SAFETY: a context has no thread affinity; all its operations take
// `&mut self`, so it is never used from two threads at once.
unsafe impl Send for SecContext {}

impl Drop for SecContext {
    fn drop(&mut self) {
        if self.raw.is_null() {
            return;
        }
        let mut minor = 0;
        // SAFETY: `raw` is a live context created by this library; a null
        // output token means no deletion token is wanted.
        unsafe {
            (self.lib.functions.delete_sec_context)(&mut minor, &mut self.raw, ptr::null_mut())
        };
    }
}

/// What one init/accept call produced.
pub(crate) struct StepOutput {
    pub(crate) token: Vec<u8>,
    pub(crate) complete: bool,
    pub(crate) flags: u32,
    /// Acceptor only: the authenticated initiator's name, once complete.
    pub(crate) source_name: Option<String>,
}

fn bindings(app_data: &[u8]) -> ChannelBindingsDesc {
    ChannelBindingsDesc {
        initiator_addrtype: GSS_C_AF_UNSPEC,
        initiator_address: BufferDesc::EMPTY,
        acceptor_addrtype: GSS_C_AF_UNSPEC,
        acceptor_address: BufferDesc::EMPTY,
        application_data: BufferDesc::borrow(app_data),
    }
}

impl SecContext {
    pub(crate) fn new(lib: &Arc<Library>) -> Self {
        Self {
            lib: Arc::clone(lib),
            raw: ptr::null_mut(),
        }
    }

    /// `gss_init_sec_context`.
    pub(crate) fn init(
        &mut self,
        cred: &Cred,
        target: &Name,
        mech: &'static [u8],
        flags: u32,
        channel_bindings: Option<&[u8]>,
        input: Option<&[u8]>,
    ) -> Result<StepOutput, GssError> {
        let lib = Arc::clone(&self.lib);
        let mech = oid(mech);
        let cb = channel_bindings.map(bindings);
        let cb_ptr = cb.as_ref().map_or(ptr::null(), |c| c as *const _);
        let input = input.map(BufferDesc::borrow);
        let input_ptr = input.as_ref().map_or(ptr::null(), |b| b as *const _);
        let mut out = BufferDesc::EMPTY;
        let mut ret_flags = 0;
        let mut minor = 0;
        // SAFETY: `self.raw` is null or a context from an earlier call on
        // this same object; `cred` and `target` are live handles; `mech`,
        // `cb` and `input` borrow data alive for the call.
        let major = unsafe {
            (lib.functions.init_sec_context)(
                &mut minor,
                cred.raw,
                &mut self.raw,
                target.raw,
                &mech,
                flags,
                0,
                cb_ptr,
                input_ptr,
                ptr::null_mut(),
                &mut out,
                &mut ret_flags,
                ptr::null_mut(),
            )
        };
        let token = lib.take_buffer(&mut out);
        if is_error(major) {
            return Err(lib.error("initiating the security context", major, minor));
        }
        Ok(StepOutput {
            token: token?,
            complete: major & GSS_S_CONTINUE_NEEDED == 0,
            flags: ret_flags,
            source_name: None,
        })
    }

    /// `gss_accept_sec_context`.
    pub(crate) fn accept(
        &mut self,
        cred: &Cred,
        channel_bindings: Option<&[u8]>,
        input: &[u8],
    ) -> Result<StepOutput, GssError> {
        let lib = Arc::clone(&self.lib);
        let cb = channel_bindings.map(bindings);
        let cb_ptr = cb.as_ref().map_or(ptr::null(), |c| c as *const _);
        let input = BufferDesc::borrow(input);
        let mut out = BufferDesc::EMPTY;
        let mut source: Handle = ptr::null_mut();
        let mut ret_flags = 0;
        let mut minor = 0;
        // SAFETY: as for `init`; `source` receives a name we release below.
        let major = unsafe {
            (lib.functions.accept_sec_context)(
                &mut minor,
                &mut self.raw,
                cred.raw,
                &input,
                cb_ptr,
                &mut source,
                ptr::null_mut(),
                &mut out,
                &mut ret_flags,
                ptr::null_mut(),
                ptr::null_mut(),
            )
        };
        let token = lib.take_buffer(&mut out);
        let source_name = if source.is_null() {
            None
        } else {
            let name = display_name(&lib, source);
            let mut ignored = 0;
            // SAFETY: `source` is a name the library gave us; released once.
            unsafe { (lib.functions.release_name)(&mut ignored, &mut source) };
            name
        };
        if is_error(major) {
            return Err(lib.error("accepting the security context", major, minor));
        }
        let complete = major & GSS_S_CONTINUE_NEEDED == 0;
        Ok(StepOutput {
            token: token?,
            complete,
            flags: ret_flags,
            source_name: if complete { source_name } else { None },
        })
    }

    /// Fails if the library reported an error, or a replayed or reordered
    /// token (supplementary `GSS_S_DUPLICATE_TOKEN`, `GSS_S_OLD_TOKEN`,
    /// `GSS_S_UNSEQ_TOKEN`). A gap (`GSS_S_GAP_TOKEN`: an earlier token was
    /// lost or rejected) is accepted: this token itself is authentic and in
    /// order.
    fn check(&self, operation: &'static str, major: u32, minor: u32) -> Result<(), GssError> {
        if is_error(major) || major & REPLAYED_OR_REORDERED != 0 {
            return Err(self.lib.error(operation, major, minor));
        }
        Ok(())
    }

    /// `gss_wrap` with the default QOP. Returns the token and whether it
    /// is encrypted.
    pub(crate) fn wrap(&mut self, data: &[u8], encrypt: bool) -> Result<(Vec<u8>, bool), GssError> {
        let input = BufferDesc::borrow(data);
        let mut out = BufferDesc::EMPTY;
        let mut conf_state = 0;
        let mut minor = 0;
        // SAFETY: `self.raw` is an established context; `input` borrows
        // `data` for the call.
        let major = unsafe {
            (self.lib.functions.wrap)(
                &mut minor,
                self.raw,
                c_int::from(encrypt),
                0,
                &input,
                &mut conf_state,
                &mut out,
            )
        };
        let token = self.lib.take_buffer(&mut out);
        self.check("wrapping a message", major, minor)?;
        Ok((token?, conf_state != 0))
    }

    /// `gss_unwrap`. Returns the message and whether it was encrypted.
    pub(crate) fn unwrap(&mut self, token: &[u8]) -> Result<(Vec<u8>, bool), GssError> {
        let input = BufferDesc::borrow(token);
        let mut out = BufferDesc::EMPTY;
        let mut conf_state = 0;
        let mut qop = 0;
        let mut minor = 0;
        // SAFETY: as for `wrap`.
        let major = unsafe {
            (self.lib.functions.unwrap)(
                &mut minor,
                self.raw,
                &input,
                &mut out,
                &mut conf_state,
                &mut qop,
            )
        };
        let data = self.lib.take_buffer(&mut out);
        self.check("unwrapping a message", major, minor)?;
        Ok((data?, conf_state != 0))
    }

    /// `gss_get_mic` with the default QOP.
    pub(crate) fn get_mic(&mut self, data: &[u8]) -> Result<Vec<u8>, GssError> {
        let input = BufferDesc::borrow(data);
        let mut out = BufferDesc::EMPTY;
        let mut minor = 0;
        // SAFETY: as for `wrap`.
        let major =
            unsafe { (self.lib.functions.get_mic)(&mut minor, self.raw, 0, &input, &mut out) };
        let token = self.lib.take_buffer(&mut out);
        self.check("computing a MIC", major, minor)?;
        token
    }

    /// `gss_verify_mic`.
    pub(crate) fn verify_mic(&mut self, data: &[u8], mic: &[u8]) -> Result<(), GssError> {
        let message = BufferDesc::borrow(data);
        let token = BufferDesc::borrow(mic);
        let mut qop = 0;
        let mut minor = 0;
        // SAFETY: as for `wrap`; both buffers borrow live slices.
        let major = unsafe {
            (self.lib.functions.verify_mic)(&mut minor, self.raw, &message, &token, &mut qop)
        };
        self.check("verifying a MIC", major, minor)
    }

    /// `gss_wrap_iov` with HEADER, DATA and PADDING buffers, encrypting:
    /// the layout of MS-WSMV 2.2.9.1 encrypted WinRM messages. Returns the
    /// header and the sealed data followed by any padding.
    pub(crate) fn wrap_iov_header_data(
        &mut self,
        data: &[u8],
    ) -> Result<(Vec<u8>, Vec<u8>), GssError> {
        let mut sealed = data.to_vec();
        // First ask the library for the header and padding sizes.
        let mut iov = [
            IovBufferDesc {
                kind: GSS_IOV_BUFFER_TYPE_HEADER,
                buffer: BufferDesc::EMPTY,
            },
            IovBufferDesc {
                kind: GSS_IOV_BUFFER_TYPE_DATA,
                buffer: BufferDesc::borrow_mut(&mut sealed),
            },
            IovBufferDesc {
                kind: GSS_IOV_BUFFER_TYPE_PADDING,
                buffer: BufferDesc::EMPTY,
            },
        ];
        let mut conf_state = 0;
        let mut minor = 0;
        // SAFETY: the IOV array and the DATA buffer it points to are alive
        // for the call; gss_wrap_iov_length only writes the lengths of the
        // HEADER and PADDING descriptors.
        let major = unsafe {
            (self.lib.functions.wrap_iov_length)(
                &mut minor,
                self.raw,
                1,
                0,
                &mut conf_state,
                iov.as_mut_ptr(),
                3,
            )
        };
        self.check("sizing a WinRM message", major, minor)?;
        let header_len = iov[0].buffer.length;
        let padding_len = iov[2].buffer.length;
        if header_len > 64 * 1024 || padding_len > 64 * 1024 {
            return Err(GssError::State(
                "the GSS-API library asked for an implausible WinRM header or padding size",
            ));
        }
        let mut header = vec![0u8; header_len];
        let mut padding = vec![0u8; padding_len];
        let mut iov = [
            IovBufferDesc {
                kind: GSS_IOV_BUFFER_TYPE_HEADER,
                buffer: BufferDesc::borrow_mut(&mut header),
            },
            IovBufferDesc {
                kind: GSS_IOV_BUFFER_TYPE_DATA,
                buffer: BufferDesc::borrow_mut(&mut sealed),
            },
            IovBufferDesc {
                kind: GSS_IOV_BUFFER_TYPE_PADDING,
                buffer: BufferDesc::borrow_mut(&mut padding),
            },
        ];
        // SAFETY: every IOV buffer points into a Vec of exactly the length
        // given, alive for the call; without the ALLOCATE flag the library
        // writes in place and may only shorten the lengths.
        let major = unsafe {
            (self.lib.functions.wrap_iov)(
                &mut minor,
                self.raw,
                1,
                0,
                &mut conf_state,
                iov.as_mut_ptr(),
                3,
            )
        };
        self.check("wrapping a WinRM message", major, minor)?;
        let lens = in_place_lengths(&iov, &[header.len(), sealed.len(), padding.len()])?;
        if conf_state == 0 {
            return Err(GssError::State("the WinRM message was not encrypted"));
        }
        header.truncate(lens[0]);
        sealed.truncate(lens[1]);
        sealed.extend_from_slice(&padding[..lens[2]]);
        Ok((header, sealed))
    }

    /// `gss_unwrap_iov` with HEADER and DATA buffers, decrypting in place.
    /// Returns the message and whether it was encrypted.
    pub(crate) fn unwrap_iov_header_data(
        &mut self,
        header: &[u8],
        sealed: &[u8],
    ) -> Result<(Vec<u8>, bool), GssError> {
        let mut header = header.to_vec();
        let mut data = sealed.to_vec();
        let mut iov = [
            IovBufferDesc {
                kind: GSS_IOV_BUFFER_TYPE_HEADER,
                buffer: BufferDesc::borrow_mut(&mut header),
            },
            IovBufferDesc {
                kind: GSS_IOV_BUFFER_TYPE_DATA,
                buffer: BufferDesc::borrow_mut(&mut data),
            },
        ];
        let mut conf_state = 0;
        let mut qop = 0;
        let mut minor = 0;
        // SAFETY: as for `wrap_iov_header_data`: both buffers are owned
        // copies of exactly the lengths given, alive for the call.
        let major = unsafe {
            (self.lib.functions.unwrap_iov)(
                &mut minor,
                self.raw,
                &mut conf_state,
                &mut qop,
                iov.as_mut_ptr(),
                2,
            )
        };
        self.check("unwrapping a WinRM message", major, minor)?;
        let lens = in_place_lengths(&iov, &[header.len(), data.len()])?;
        data.truncate(lens[1]);
        Ok((data, conf_state != 0))
    }
}

/// The lengths the library left in IOV buffers we lent it, checked to
/// still point into our memory and to be no longer than what we gave.
fn in_place_lengths(iov: &[IovBufferDesc], given: &[usize]) -> Result<Vec<usize>, GssError> {
    iov.iter()
        .zip(given)
        .map(|(b, &len)| {
            if b.kind & GSS_IOV_BUFFER_FLAG_ALLOCATED != 0 || b.buffer.length > len {
                Err(GssError::State(
                    "the GSS-API library did not wrap or unwrap in place",
                ))
            } else {
                Ok(b.buffer.length)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_match_the_c_declarations() {
        // 64-bit Linux: size_t and pointers are 8 bytes, OM_uint32 is 4.
        if cfg!(target_pointer_width = "64") {
            assert_eq!(size_of::<BufferDesc>(), 16);
            assert_eq!(size_of::<OidDesc>(), 16);
            assert_eq!(size_of::<OidSetDesc>(), 16);
            assert_eq!(size_of::<IovBufferDesc>(), 24);
            assert_eq!(size_of::<KeyValueElement>(), 16);
            assert_eq!(size_of::<KeyValueSet>(), 16);
            assert_eq!(size_of::<ChannelBindingsDesc>(), 2 * 8 + 3 * 16);
        }
    }

    #[test]
    fn name_type_oids_are_the_registered_ones() {
        // 1.2.840.113554.1.2.1.4 and 1.2.840.113554.1.2.2.1
        assert_eq!(
            NT_HOSTBASED_SERVICE,
            b"\x2a\x86\x48\x86\xf7\x12\x01\x02\x01\x04"
        );
        assert_eq!(
            NT_KRB5_PRINCIPAL,
            b"\x2a\x86\x48\x86\xf7\x12\x01\x02\x02\x01"
        );
    }

    #[test]
    fn file_names_carry_an_explicit_type() {
        assert_eq!(
            file_name(Path::new("/tmp/a:b/krb5.keytab")),
            "FILE:/tmp/a:b/krb5.keytab"
        );
    }

    #[test]
    fn library_buffers_are_checked_for_in_place_use() {
        let iov = [IovBufferDesc {
            kind: GSS_IOV_BUFFER_TYPE_DATA,
            buffer: BufferDesc {
                length: 10,
                value: ptr::null_mut(),
            },
        }];
        assert_eq!(in_place_lengths(&iov, &[12]).unwrap(), vec![10]);
        assert!(matches!(
            in_place_lengths(&iov, &[9]),
            Err(GssError::State(_))
        ));
        let allocated = [IovBufferDesc {
            kind: GSS_IOV_BUFFER_TYPE_DATA | GSS_IOV_BUFFER_FLAG_ALLOCATED,
            buffer: BufferDesc::EMPTY,
        }];
        assert!(matches!(
            in_place_lengths(&allocated, &[0]),
            Err(GssError::State(_))
        ));
    }
}
