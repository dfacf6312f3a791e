//! A power-cut VFS for tests: a shim over the platform's default SQLite VFS (so it sees the
//! pages SQLCipher has already encrypted) that records every write and sync, and at a
//! chosen I/O operation cuts the power. It never changes what SQLite reads or writes
//! before the cut.
//!
//! The disk model, per file (keyed by inode, so a rename by `std::fs` keeps its history):
//! - a write reaches the disk image only when a later `xSync` of that file completes;
//! - at the cut, the operation that hit it fails and every later one fails too (the
//!   machine is off); at "reboot" each file is put back to what its last completed sync
//!   made durable, plus a seeded random subset of the later writes (each one lands or not
//!   by its own coin, in any pattern: not only none, all or a prefix, as a disk's cache and
//!   its reordering allow), and the last of them may be torn (only its first sectors
//!   landed, the rest of the page keeps what the disk had);
//! - directory operations (create, delete, rename) are durable when made. Tillkit's own
//!   code fsyncs the directory after each of its renames and sidecar writes, and SQLite
//!   fsyncs it after creating a WAL or journal, before any write that depends on them, so
//!   no cut point can fall between such an operation and its directory sync;
//! - the WAL index (`-shm`, shared memory) is left as it was: SQLite rebuilds it when the
//!   first connection after a reboot finds no other holder.

use std::collections::HashMap;
use std::ffi::{CStr, c_char, c_int, c_void};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, OnceLock};

use rusqlite::ffi;

/// What happens at the reboot after a cut.
#[derive(Debug, Clone, Copy)]
pub struct Cut {
    /// The 1-based write/sync/truncate operation at which the power goes.
    pub at: u64,
    /// Which unsynced writes reached the disk anyway.
    pub keep: Keep,
    /// Sectors (512 bytes) of the last unsynced write that landed, if it is torn.
    pub torn_sectors: Option<usize>,
}

/// Which writes not covered by a completed sync survive a cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    Nothing,
    Everything,
    /// Each one by its own coin, from this seed (and the file's name).
    RandomSubset(u64),
}

/// One write or truncate a file received.
#[derive(Debug, Clone)]
pub enum Op {
    Write(u64, Vec<u8>),
    Truncate(u64),
}

#[derive(Default)]
struct FileState {
    durable: Vec<u8>,
    pending: Vec<Op>,
}

#[derive(Default)]
struct State {
    ops: u64,
    cut: Option<Cut>,
    dead: bool,
    files: HashMap<u64, FileState>,
}

fn state() -> MutexGuard<'static, State> {
    static STATE: OnceLock<Mutex<State>> = OnceLock::new();
    STATE
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// The platform VFS everything is forwarded to.
static mut UNDERLYING: *mut ffi::sqlite3_vfs = std::ptr::null_mut();

#[repr(C)]
struct TFile {
    base: ffi::sqlite3_file,
    inner: *mut ffi::sqlite3_file,
    ino: u64,
}

fn apply(image: &mut Vec<u8>, op: &Op) {
    match op {
        Op::Write(offset, data) => {
            let at = *offset as usize;
            if image.len() < at + data.len() {
                image.resize(at + data.len(), 0);
            }
            image[at..at + data.len()].copy_from_slice(data);
        }
        Op::Truncate(len) => image.truncate(*len as usize),
    }
}

/// Counts one operation; true when this one is where the power goes (or went).
fn dies_here(s: &mut State) -> bool {
    if s.dead {
        return true;
    }
    s.ops += 1;
    if s.cut.is_some_and(|c| c.at == s.ops) {
        s.dead = true;
    }
    s.dead
}

unsafe fn inner(f: *mut ffi::sqlite3_file) -> *mut ffi::sqlite3_file {
    unsafe { (*(f as *mut TFile)).inner }
}

unsafe fn methods(f: *mut ffi::sqlite3_file) -> &'static ffi::sqlite3_io_methods {
    unsafe { &*(*inner(f)).pMethods }
}

unsafe extern "C" fn x_close(f: *mut ffi::sqlite3_file) -> c_int {
    unsafe {
        let inner_file = inner(f);
        let rc = match (*inner_file).pMethods.as_ref().and_then(|m| m.xClose) {
            Some(close) => close(inner_file),
            None => ffi::SQLITE_OK,
        };
        let size = (*UNDERLYING).szOsFile as usize;
        drop(Vec::from_raw_parts(
            inner_file as *mut u64,
            0,
            size.div_ceil(8),
        ));
        rc
    }
}

unsafe extern "C" fn x_read(
    f: *mut ffi::sqlite3_file,
    buf: *mut c_void,
    amt: c_int,
    off: i64,
) -> c_int {
    if state().dead {
        return ffi::SQLITE_IOERR_READ;
    }
    unsafe { (methods(f).xRead.unwrap())(inner(f), buf, amt, off) }
}

unsafe extern "C" fn x_write(
    f: *mut ffi::sqlite3_file,
    buf: *const c_void,
    amt: c_int,
    off: i64,
) -> c_int {
    let mut s = state();
    if dies_here(&mut s) {
        return ffi::SQLITE_IOERR_WRITE;
    }
    let rc = unsafe { (methods(f).xWrite.unwrap())(inner(f), buf, amt, off) };
    if rc == ffi::SQLITE_OK {
        let data = unsafe { std::slice::from_raw_parts(buf as *const u8, amt as usize) };
        let ino = unsafe { (*(f as *mut TFile)).ino };
        if let Some(file) = s.files.get_mut(&ino) {
            file.pending.push(Op::Write(off as u64, data.to_vec()));
        }
    }
    rc
}

unsafe extern "C" fn x_truncate(f: *mut ffi::sqlite3_file, size: i64) -> c_int {
    let mut s = state();
    if dies_here(&mut s) {
        return ffi::SQLITE_IOERR_TRUNCATE;
    }
    let rc = unsafe { (methods(f).xTruncate.unwrap())(inner(f), size) };
    if rc == ffi::SQLITE_OK {
        let ino = unsafe { (*(f as *mut TFile)).ino };
        if let Some(file) = s.files.get_mut(&ino) {
            file.pending.push(Op::Truncate(size as u64));
        }
    }
    rc
}

unsafe extern "C" fn x_sync(f: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    let mut s = state();
    if dies_here(&mut s) {
        return ffi::SQLITE_IOERR_FSYNC;
    }
    let rc = unsafe { (methods(f).xSync.unwrap())(inner(f), flags) };
    if rc == ffi::SQLITE_OK {
        let ino = unsafe { (*(f as *mut TFile)).ino };
        if let Some(file) = s.files.get_mut(&ino) {
            for op in std::mem::take(&mut file.pending) {
                apply(&mut file.durable, &op);
            }
        }
    }
    rc
}

unsafe extern "C" fn x_file_size(f: *mut ffi::sqlite3_file, size: *mut i64) -> c_int {
    if state().dead {
        return ffi::SQLITE_IOERR_FSTAT;
    }
    unsafe { (methods(f).xFileSize.unwrap())(inner(f), size) }
}

unsafe extern "C" fn x_lock(f: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    unsafe { (methods(f).xLock.unwrap())(inner(f), level) }
}

unsafe extern "C" fn x_unlock(f: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    unsafe { (methods(f).xUnlock.unwrap())(inner(f), level) }
}

unsafe extern "C" fn x_check_reserved_lock(f: *mut ffi::sqlite3_file, out: *mut c_int) -> c_int {
    unsafe { (methods(f).xCheckReservedLock.unwrap())(inner(f), out) }
}

unsafe extern "C" fn x_file_control(
    f: *mut ffi::sqlite3_file,
    op: c_int,
    arg: *mut c_void,
) -> c_int {
    unsafe { (methods(f).xFileControl.unwrap())(inner(f), op, arg) }
}

unsafe extern "C" fn x_sector_size(f: *mut ffi::sqlite3_file) -> c_int {
    unsafe { (methods(f).xSectorSize.unwrap())(inner(f)) }
}

unsafe extern "C" fn x_device_characteristics(f: *mut ffi::sqlite3_file) -> c_int {
    // What the platform says (powersafe overwrite): a torn write here only ever loses
    // the end of the write, never bytes around it.
    unsafe { (methods(f).xDeviceCharacteristics.unwrap())(inner(f)) }
}

unsafe extern "C" fn x_shm_map(
    f: *mut ffi::sqlite3_file,
    region: c_int,
    size: c_int,
    extend: c_int,
    out: *mut *mut c_void,
) -> c_int {
    unsafe { (methods(f).xShmMap.unwrap())(inner(f), region, size, extend, out) }
}

unsafe extern "C" fn x_shm_lock(
    f: *mut ffi::sqlite3_file,
    offset: c_int,
    n: c_int,
    flags: c_int,
) -> c_int {
    unsafe { (methods(f).xShmLock.unwrap())(inner(f), offset, n, flags) }
}

unsafe extern "C" fn x_shm_barrier(f: *mut ffi::sqlite3_file) {
    unsafe { (methods(f).xShmBarrier.unwrap())(inner(f)) }
}

unsafe extern "C" fn x_shm_unmap(f: *mut ffi::sqlite3_file, delete: c_int) -> c_int {
    unsafe { (methods(f).xShmUnmap.unwrap())(inner(f), delete) }
}

unsafe extern "C" fn x_fetch(
    f: *mut ffi::sqlite3_file,
    off: i64,
    amt: c_int,
    out: *mut *mut c_void,
) -> c_int {
    // No memory-mapped reads: every page goes through xRead, where the cut is seen.
    let _ = (f, off, amt);
    unsafe { *out = std::ptr::null_mut() };
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_unfetch(f: *mut ffi::sqlite3_file, off: i64, p: *mut c_void) -> c_int {
    let _ = (f, off, p);
    ffi::SQLITE_OK
}

static IO_METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 3,
    xClose: Some(x_close),
    xRead: Some(x_read),
    xWrite: Some(x_write),
    xTruncate: Some(x_truncate),
    xSync: Some(x_sync),
    xFileSize: Some(x_file_size),
    xLock: Some(x_lock),
    xUnlock: Some(x_unlock),
    xCheckReservedLock: Some(x_check_reserved_lock),
    xFileControl: Some(x_file_control),
    xSectorSize: Some(x_sector_size),
    xDeviceCharacteristics: Some(x_device_characteristics),
    xShmMap: Some(x_shm_map),
    xShmLock: Some(x_shm_lock),
    xShmBarrier: Some(x_shm_barrier),
    xShmUnmap: Some(x_shm_unmap),
    xFetch: Some(x_fetch),
    xUnfetch: Some(x_unfetch),
};

unsafe extern "C" fn x_open(
    vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let _ = vfs;
    unsafe {
        let tfile = file as *mut TFile;
        (*tfile).base.pMethods = std::ptr::null();
        if state().dead {
            return ffi::SQLITE_IOERR;
        }
        let size = (*UNDERLYING).szOsFile as usize;
        let mut storage = vec![0u64; size.div_ceil(8)];
        let inner_file = storage.as_mut_ptr() as *mut ffi::sqlite3_file;
        std::mem::forget(storage);
        let rc = ((*UNDERLYING).xOpen.unwrap())(UNDERLYING, name, inner_file, flags, out_flags);
        if rc != ffi::SQLITE_OK {
            drop(Vec::from_raw_parts(
                inner_file as *mut u64,
                0,
                size.div_ceil(8),
            ));
            return rc;
        }
        (*tfile).inner = inner_file;
        (*tfile).ino = 0;
        if !name.is_null() {
            let path = CStr::from_ptr(name).to_string_lossy().into_owned();
            if let Ok(meta) = std::fs::metadata(&path) {
                (*tfile).ino = meta.ino();
                let mut s = state();
                s.files.entry(meta.ino()).or_insert_with(|| FileState {
                    // What is on disk when a file is first opened is durable by definition.
                    durable: std::fs::read(&path).unwrap_or_default(),
                    pending: Vec::new(),
                });
            }
        }
        (*tfile).base.pMethods = &IO_METHODS;
        ffi::SQLITE_OK
    }
}

unsafe extern "C" fn x_delete(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    sync_dir: c_int,
) -> c_int {
    let _ = vfs;
    let mut s = state();
    if dies_here(&mut s) {
        return ffi::SQLITE_IOERR_DELETE;
    }
    let path = unsafe { CStr::from_ptr(name) }
        .to_string_lossy()
        .into_owned();
    if let Ok(meta) = std::fs::metadata(&path) {
        s.files.remove(&meta.ino());
    }
    unsafe { ((*UNDERLYING).xDelete.unwrap())(UNDERLYING, name, sync_dir) }
}

/// Makes the power-cut VFS the process's default (once); until `arm`, it only records.
pub fn install() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| unsafe {
        let underlying = ffi::sqlite3_vfs_find(std::ptr::null());
        assert!(!underlying.is_null(), "no default VFS");
        UNDERLYING = underlying;
        let mut vfs: ffi::sqlite3_vfs = *underlying;
        vfs.szOsFile = std::mem::size_of::<TFile>() as c_int;
        vfs.zName = c"tillkit-powercut".as_ptr();
        vfs.pNext = std::ptr::null_mut();
        vfs.xOpen = Some(x_open);
        vfs.xDelete = Some(x_delete);
        let rc = ffi::sqlite3_vfs_register(Box::leak(Box::new(vfs)), 1);
        assert_eq!(rc, ffi::SQLITE_OK, "VFS registration");
    });
}

/// Starts counting from zero; the power goes at `cut.at` (None: never).
pub fn arm(cut: Option<Cut>) {
    let mut s = state();
    s.ops = 0;
    s.cut = cut;
    s.dead = false;
}

/// Operations counted since `arm`.
pub fn ops() -> u64 {
    state().ops
}

/// Whether the power went.
pub fn is_dead() -> bool {
    state().dead
}

/// What the disk holds after a cut for a file whose last completed sync left `durable` and
/// that received `pending` since: a subset of `pending` as `keep` says, in order, the last
/// write torn to `torn_sectors` (that write then lands in part whatever the coin said).
pub fn disk_after(
    durable: &[u8],
    pending: &[Op],
    keep: Keep,
    torn_sectors: Option<usize>,
    salt: u64,
) -> Vec<u8> {
    let mut image = durable.to_vec();
    let mut coin = match keep {
        // splitmix64 of the seed and salt, then xorshift64* (never zero).
        Keep::RandomSubset(seed) => {
            let mut z = (seed ^ salt.rotate_left(17)).wrapping_add(0x9e37_79b9_7f4a_7c15);
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            (z ^ (z >> 31)) | 1
        }
        _ => 1,
    };
    let mut lands = || match keep {
        Keep::Nothing => false,
        Keep::Everything => true,
        Keep::RandomSubset(_) => {
            coin ^= coin >> 12;
            coin ^= coin << 25;
            coin ^= coin >> 27;
            coin.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 63 == 1
        }
    };
    let Some((last, earlier)) = pending.split_last() else {
        return image;
    };
    for op in earlier {
        if lands() {
            apply(&mut image, op);
        }
    }
    match (last, torn_sectors) {
        (Op::Write(offset, data), Some(sectors)) => {
            let landed = (sectors * 512).min(data.len());
            apply(&mut image, &Op::Write(*offset, data[..landed].to_vec()));
        }
        (op, _) if lands() => apply(&mut image, op),
        _ => {}
    }
    image
}

/// Reboot: every file of `dir` that the VFS saw is put back to what the disk holds after
/// the cut (see the module comment and `disk_after`); the power is back and nothing is
/// armed.
pub fn reboot(dir: &Path) {
    let mut s = state();
    let cut = s.cut.unwrap_or(Cut {
        at: 0,
        keep: Keep::Everything,
        torn_sectors: None,
    });
    for entry in std::fs::read_dir(dir).expect("data dir") {
        let entry = entry.expect("entry");
        let Ok(meta) = entry.metadata() else { continue };
        let Some(file) = s.files.get(&meta.ino()) else {
            continue;
        };
        // The file's name, not its inode, salts its coins: a seed replays alike.
        let salt = entry
            .file_name()
            .to_string_lossy()
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
        let image = disk_after(
            &file.durable,
            &file.pending,
            cut.keep,
            cut.torn_sectors,
            salt,
        );
        std::fs::write(entry.path(), &image).expect("restore file");
    }
    s.files.clear();
    s.cut = None;
    s.dead = false;
    s.ops = 0;
}
