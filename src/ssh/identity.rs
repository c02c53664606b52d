//! An unencrypted OpenSSH ed25519 identity, parsed once per labctl process
//! and signing each session's public-key authentication itself.
//!
//! Why: libssh2 re-reads and re-parses the private key for every connection,
//! and with OpenSSL 3 its first attempt (`PEM_read_bio_PrivateKey`) sets up
//! OpenSSL's decoders, which is slow (about 2.7 ms of CPU) and then fails for
//! an OpenSSH-format key before libssh2's own parser runs: 90 hosts of a room
//! paid that 90 times. Here the file (what `ssh-keygen -t ed25519` and the
//! testbed write) is decoded once into an OpenSSL key kept for the process,
//! and libssh2's `libssh2_userauth_publickey` asks [`sign`] for each
//! signature. Any other identity (RSA, ECDSA, passphrase-protected, PEM,
//! unreadable, malformed) is [`None`] here, and `session.rs` takes libssh2's
//! own path exactly as before, with its messages.
//!
//! All of labctl's FFI for this is in this file, each `unsafe` block small.

use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_uchar, c_void, CString};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use openssl_sys as ffi;

use super::known_hosts::base64_decode;

const KEY_TYPE: &[u8] = b"ssh-ed25519";
/// An identity file larger than this is not an ed25519 key (one is ~420 bytes).
const MAX_FILE: u64 = 16 * 1024;

/// A parsed identity: an OpenSSL ed25519 key and its SSH public key blob.
pub(crate) struct Ed25519 {
    /// Owned (freed on drop); OpenSSL keys are safe to sign with from
    /// several threads at once, each with its own `EVP_MD_CTX`.
    pkey: *mut ffi::EVP_PKEY,
    /// `string "ssh-ed25519" || string public-key`, as the server sees it.
    blob: Vec<u8>,
}

// SAFETY: the EVP_PKEY is never mutated after it is made: OpenSSL allows
// concurrent read-only use (signing with a fresh EVP_MD_CTX per call) from
// any thread, and freeing it happens once, in `drop`.
unsafe impl Send for Ed25519 {}
// SAFETY: as for `Send`: shared use is read-only signing.
unsafe impl Sync for Ed25519 {}

impl Drop for Ed25519 {
    fn drop(&mut self) {
        // SAFETY: `pkey` came from EVP_PKEY_new_raw_private_key and is freed only here.
        unsafe { ffi::EVP_PKEY_free(self.pkey) }
    }
}

/// The file's size and modification time when it was parsed: a key
/// regenerated at the same path (`ssh-keygen` again) is read again.
type Stamp = (u64, Option<SystemTime>);

/// Identities read so far in this process, by path (`None`: not one of ours).
type Cache = Mutex<HashMap<PathBuf, (Stamp, Option<Arc<Ed25519>>)>>;

fn cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// The identity at `path` if it is an unencrypted OpenSSH ed25519 key,
/// parsed at most once per version of the file.
pub(crate) fn load(path: &Path) -> Option<Arc<Ed25519>> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() > MAX_FILE {
        return None;
    }
    let stamp: Stamp = (meta.len(), meta.modified().ok());
    let mut cache = cache().lock().unwrap_or_else(|p| p.into_inner());
    if let Some((s, key)) = cache.get(path) {
        if *s == stamp {
            return key.clone();
        }
    }
    let key = std::fs::read(path)
        .ok()
        .and_then(|mut text| {
            let parsed = parse(&text);
            text.fill(0);
            parsed
        })
        .and_then(|(public, mut seed)| {
            let key = Ed25519::new(&public, &seed);
            seed.fill(0);
            key
        })
        .map(Arc::new);
    cache.insert(path.to_path_buf(), (stamp, key.clone()));
    key
}

/// Reads one SSH `uint32` from the front of `b`.
fn take_u32(b: &mut &[u8]) -> Option<u32> {
    let (head, rest) = b.split_first_chunk::<4>()?;
    *b = rest;
    Some(u32::from_be_bytes(*head))
}

/// Reads one SSH `string` (length-prefixed bytes) from the front of `b`.
fn take_str<'a>(b: &mut &'a [u8]) -> Option<&'a [u8]> {
    let n = take_u32(b)? as usize;
    if n > b.len() {
        return None;
    }
    let (s, rest) = b.split_at(n);
    *b = rest;
    Some(s)
}

/// The public key (32 bytes) and private seed (32 bytes) of an unencrypted
/// `openssh-key-v1` ed25519 key file (PROTOCOL.key in OpenSSH's sources);
/// `None` for anything else.
pub(crate) fn parse(text: &[u8]) -> Option<([u8; 32], [u8; 32])> {
    const BEGIN: &str = "-----BEGIN OPENSSH PRIVATE KEY-----";
    const END: &str = "-----END OPENSSH PRIVATE KEY-----";
    let text = std::str::from_utf8(text).ok()?.trim();
    let body = text.strip_prefix(BEGIN)?.strip_suffix(END)?;
    let b64: String = body.split_whitespace().collect();
    let mut raw = base64_decode(&b64)?;
    let found = parse_binary(&raw);
    raw.fill(0);
    found
}

fn parse_binary(raw: &[u8]) -> Option<([u8; 32], [u8; 32])> {
    let mut b = raw.strip_prefix(b"openssh-key-v1\0")?;
    let cipher = take_str(&mut b)?;
    let kdf = take_str(&mut b)?;
    let _kdf_options = take_str(&mut b)?;
    if cipher != b"none" || kdf != b"none" || take_u32(&mut b)? != 1 {
        return None;
    }
    let mut public_blob = take_str(&mut b)?;
    if take_str(&mut public_blob)? != KEY_TYPE {
        return None;
    }
    let public: [u8; 32] = take_str(&mut public_blob)?.try_into().ok()?;
    let mut private = take_str(&mut b)?;
    if !b.is_empty() || !public_blob.is_empty() {
        return None;
    }
    // Two equal check words (random), then the key itself, a comment, padding 1, 2, 3, …
    if take_u32(&mut private)? != take_u32(&mut private)? {
        return None;
    }
    if take_str(&mut private)? != KEY_TYPE || take_str(&mut private)? != public {
        return None;
    }
    // 64 bytes: the 32-byte seed, then the public key again.
    let secret = take_str(&mut private)?;
    let (seed, again) = secret.split_first_chunk::<32>()?;
    if again != public {
        return None;
    }
    let _comment = take_str(&mut private)?;
    let padded = private
        .iter()
        .enumerate()
        .all(|(i, &p)| usize::from(p) == i + 1);
    (padded && private.len() < 16).then_some((public, *seed))
}

impl Ed25519 {
    /// The OpenSSL key for `seed`, if its public half is `public`.
    fn new(public: &[u8; 32], seed: &[u8; 32]) -> Option<Ed25519> {
        ffi::init();
        // SAFETY: `seed` is 32 readable bytes, the length passed; a null
        // engine is allowed. The result is owned (null on failure).
        let pkey = unsafe {
            ffi::EVP_PKEY_new_raw_private_key(
                ffi::EVP_PKEY_ED25519,
                std::ptr::null_mut(),
                seed.as_ptr(),
                seed.len(),
            )
        };
        if pkey.is_null() {
            return None;
        }
        let mut blob = Vec::with_capacity(4 + KEY_TYPE.len() + 4 + 32);
        for part in [KEY_TYPE, public.as_slice()] {
            blob.extend_from_slice(&(part.len() as u32).to_be_bytes());
            blob.extend_from_slice(part);
        }
        let key = Ed25519 { pkey, blob };
        let mut derived = [0u8; 32];
        let mut len = derived.len();
        // SAFETY: `pkey` is a live key; `derived` has room for `len` bytes.
        let ok =
            unsafe { ffi::EVP_PKEY_get_raw_public_key(key.pkey, derived.as_mut_ptr(), &mut len) };
        // A file whose two halves disagree is not used (libssh2 then says why).
        (ok == 1 && len == 32 && derived == *public).then_some(key)
    }

    /// The SSH public key blob (`string "ssh-ed25519" || string key`).
    pub(crate) fn public_blob(&self) -> &[u8] {
        &self.blob
    }

    /// The 64-byte ed25519 signature of `data` into `out`.
    fn sign_into(&self, data: &[u8], out: &mut [u8; 64]) -> bool {
        // SAFETY: a fresh context, freed below on every path.
        let ctx = unsafe { ffi::EVP_MD_CTX_new() };
        if ctx.is_null() {
            return false;
        }
        let mut len = out.len();
        // SAFETY: `ctx` and `self.pkey` are live; ed25519 takes no digest
        // (null) and signs in one shot; `out` has room for `len` bytes and
        // `data` is `data.len()` readable bytes.
        let ok = unsafe {
            ffi::EVP_DigestSignInit(
                ctx,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null_mut(),
                self.pkey,
            ) == 1
                && ffi::EVP_DigestSign(ctx, out.as_mut_ptr(), &mut len, data.as_ptr(), data.len())
                    == 1
        };
        // SAFETY: `ctx` came from EVP_MD_CTX_new and is not used after this.
        unsafe { ffi::EVP_MD_CTX_free(ctx) };
        ok && len == out.len()
    }

    /// The signature of `data` (for tests and [`sign`]).
    pub(crate) fn signature(&self, data: &[u8]) -> Option<[u8; 64]> {
        let mut out = [0u8; 64];
        self.sign_into(data, &mut out).then_some(out)
    }
}

/// The `LIBSSH2_USERAUTH_PUBLICKEY_SIGN_FUNC` libssh2 calls with the data
/// to sign; `*abstract_` is the `&Ed25519` [`authenticate`] passed. Returns
/// what libssh2's own ed25519 signer (`ssh2_ed25519_sign` in openssl.c)
/// returns: the bare 64-byte signature, which libssh2 wraps as
/// `string "ssh-ed25519" || string signature` and then frees.
extern "C" fn sign(
    _session: *mut c_void,
    sig: *mut *mut c_uchar,
    sig_len: *mut usize,
    data: *const c_uchar,
    data_len: usize,
    abstract_: *mut *mut c_void,
) -> c_int {
    if sig.is_null() || sig_len.is_null() || data.is_null() || abstract_.is_null() {
        return -1;
    }
    // SAFETY: `abstract_` is the pointer `authenticate` passed, to a pointer
    // to an `Ed25519` that outlives the libssh2 call; `data` is `data_len`
    // bytes libssh2 owns for the duration of this call.
    let (key, data) = unsafe {
        let key = &*(*abstract_).cast::<Ed25519>();
        (key, std::slice::from_raw_parts(data, data_len))
    };
    let Some(signature) = key.signature(data) else {
        return -1;
    };
    // libssh2 frees the signature with the session's free function: ssh2
    // makes every session with libssh2's default allocator (malloc/free:
    // `libssh2_session_init_ex(None, None, None, …)`), so malloc it is.
    // SAFETY: plain allocation; checked for null before use.
    let out = unsafe { libc::malloc(signature.len()) }.cast::<c_uchar>();
    if out.is_null() {
        return -1;
    }
    // SAFETY: `out` has room for 64 bytes; `sig` and `sig_len` are libssh2's
    // out-parameters, checked non-null above.
    unsafe {
        std::ptr::copy_nonoverlapping(signature.as_ptr(), out, signature.len());
        *sig = out;
        *sig_len = signature.len();
    }
    0
}

type SignFn = extern "C" fn(
    *mut c_void,
    *mut *mut c_uchar,
    *mut usize,
    *const c_uchar,
    usize,
    *mut *mut c_void,
) -> c_int;

extern "C" {
    // In the libssh2 that libssh2-sys builds and links (userauth.c), not
    // declared by libssh2-sys itself. The session is passed as `void *`.
    fn libssh2_userauth_publickey(
        session: *mut c_void,
        username: *const c_char,
        pubkeydata: *const c_uchar,
        pubkeydata_len: usize,
        sign_callback: Option<SignFn>,
        abstract_: *mut *mut c_void,
    ) -> c_int;
}

/// Public-key authentication of `user` on `sess` (blocking, under the
/// session's timeout) with `key`: libssh2 sends the request and calls
/// [`sign`] for the signature. Errors are libssh2's, as its own path reports them.
pub(crate) fn authenticate(
    sess: &ssh2::Session,
    user: &str,
    key: &Ed25519,
) -> Result<(), ssh2::Error> {
    let user = CString::new(user)?;
    let mut raw = sess.raw();
    let session: *mut _ = &mut *raw;
    let mut abstract_: *mut c_void = (key as *const Ed25519).cast_mut().cast();
    // SAFETY: `session` is the live session, locked by `raw` for the whole
    // call; `user` is NUL-terminated; the blob is `len` readable bytes;
    // `abstract_` points to `key`, which outlives the call, and `sign` only reads it.
    let rc = unsafe {
        libssh2_userauth_publickey(
            session.cast(),
            user.as_ptr(),
            key.public_blob().as_ptr(),
            key.public_blob().len(),
            Some(sign),
            &mut abstract_,
        )
    };
    if rc < 0 {
        Err(ssh2::Error::from_session_error_raw(session, rc))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn keygen(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
        let path = dir.join(name);
        let st = Command::new("ssh-keygen")
            .args(args)
            .args(["-q", "-C", "labctl test", "-f"])
            .arg(&path)
            .status()
            .expect("ssh-keygen runs");
        assert!(st.success(), "ssh-keygen {args:?}");
        path
    }

    fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("labctl-identity-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// The public blob of `<path>.pub` (`ssh-ed25519 BASE64 comment`).
    fn pub_blob(path: &Path) -> Vec<u8> {
        let mut p = path.as_os_str().to_owned();
        p.push(".pub");
        let text = std::fs::read_to_string(PathBuf::from(p)).unwrap();
        base64_decode(text.split_whitespace().nth(1).unwrap()).unwrap()
    }

    /// Verifies `sig` over `data` with an OpenSSL key made from the public
    /// key alone (as `ssh-keygen` wrote it in the `.pub` file).
    fn verifies(public: &[u8], data: &[u8], sig: &[u8]) -> bool {
        // SAFETY: test-only FFI with live buffers of the lengths passed;
        // everything made here is freed here.
        unsafe {
            let pkey = ffi::EVP_PKEY_new_raw_public_key(
                ffi::EVP_PKEY_ED25519,
                std::ptr::null_mut(),
                public.as_ptr(),
                public.len(),
            );
            assert!(!pkey.is_null());
            let ctx = ffi::EVP_MD_CTX_new();
            let ok = ffi::EVP_DigestVerifyInit(
                ctx,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null_mut(),
                pkey,
            ) == 1
                && ffi::EVP_DigestVerify(ctx, sig.as_ptr(), sig.len(), data.as_ptr(), data.len())
                    == 1;
            ffi::EVP_MD_CTX_free(ctx);
            ffi::EVP_PKEY_free(pkey);
            ok
        }
    }

    #[test]
    fn an_ssh_keygen_ed25519_key_is_parsed_once_and_signs_verifiably() {
        let dir = temp_dir("ed25519");
        let path = keygen(&dir, "id_ed25519", &["-t", "ed25519", "-N", ""]);
        let key = load(&path).expect("an unencrypted ed25519 key is ours");
        // The blob is exactly the `.pub` file's key.
        let blob = pub_blob(&path);
        assert_eq!(key.public_blob(), blob.as_slice());
        // Parsed once: the second load is the same key.
        assert!(Arc::ptr_eq(&key, &load(&path).unwrap()));
        let data = b"session id and userauth request";
        let sig = key.signature(data).expect("signs");
        let public = &blob[blob.len() - 32..];
        assert!(verifies(public, data, &sig));
        assert!(!verifies(public, b"other data", &sig));
        // Through libssh2's callback: the same bare 64 bytes, malloc'd.
        let mut out: *mut c_uchar = std::ptr::null_mut();
        let mut len = 0usize;
        let mut abstract_: *mut c_void = Arc::as_ptr(&key).cast_mut().cast();
        let rc = sign(
            std::ptr::null_mut(),
            &mut out,
            &mut len,
            data.as_ptr(),
            data.len(),
            &mut abstract_,
        );
        assert_eq!((rc, len), (0, 64));
        // SAFETY: `sign` returned a malloc'd buffer of `len` bytes; freed here as libssh2 would.
        let back = unsafe {
            let back = std::slice::from_raw_parts(out, len).to_vec();
            libc::free(out.cast());
            back
        };
        assert_eq!(back, sig);
        // A new key at the same path is read again.
        std::fs::remove_file(&path).unwrap();
        std::fs::remove_file(dir.join("id_ed25519.pub")).unwrap();
        let path = keygen(&dir, "id_ed25519", &["-t", "ed25519", "-N", ""]);
        let again = load(&path).unwrap();
        assert_eq!(again.public_blob(), pub_blob(&path).as_slice());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn other_identities_are_left_to_libssh2() {
        let dir = temp_dir("others");
        let encrypted = keygen(&dir, "enc", &["-t", "ed25519", "-N", "secret words"]);
        let rsa = keygen(&dir, "rsa", &["-t", "rsa", "-b", "2048", "-N", ""]);
        let ecdsa = keygen(&dir, "ecdsa", &["-t", "ecdsa", "-N", ""]);
        let pem = keygen(
            &dir,
            "pem",
            &["-t", "rsa", "-b", "2048", "-N", "", "-m", "PEM"],
        );
        let junk = dir.join("junk");
        std::fs::write(&junk, "not a key\n").unwrap();
        for p in [&encrypted, &rsa, &ecdsa, &pem, &junk] {
            assert!(load(p).is_none(), "{} is not ours", p.display());
        }
        assert!(load(&dir.join("missing")).is_none());
        // A damaged key: one byte of its secret changed, or cut short.
        let good = keygen(&dir, "good", &["-t", "ed25519", "-N", ""]);
        let text = std::fs::read(&good).unwrap();
        assert!(parse(&text).is_some());
        assert!(parse(&text[..text.len() / 2]).is_none());
        let (public, seed) = parse(&text).unwrap();
        let mut other = seed;
        other[0] ^= 1;
        assert!(
            Ed25519::new(&public, &other).is_none(),
            "halves that disagree"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
