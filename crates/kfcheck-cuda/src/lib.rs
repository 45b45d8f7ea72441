//! kfcheck's GPU load, through the CUDA driver API opened at run time.
//!
//! The probe binary runs where there may be no driver at all (a CPU container, a pod the device
//! plugin gave nothing), so `libcuda` is opened with `dlopen` and every symbol this crate calls is
//! resolved before the first call: a missing library or symbol is an [`OpenError`] naming what is
//! missing, never a panic (cudarc's dynamic loading panics on a missing symbol, which is why this
//! small crate exists). The kernels are PTX text (`kernels/load.ptx`, made by `scripts/gen-ptx`)
//! that the driver JIT-compiles for the device it finds: no CUDA toolkit and no NVRTC.
//!
//! This is the only crate of kfcheck's that holds `unsafe` code; the main crate forbids it.

use libloading::Library;
use std::ffi::{c_char, c_int, c_uint, c_void, CStr};
use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

/// The load kernels, as PTX (ISA 6.0, sm_52), JIT-compiled by the driver for the device it runs on.
pub const LOAD_PTX: &str = include_str!("../kernels/load.ptx");

/// FP32 operations per thread per loop turn of `kfcheck_fma` (16 chains x 8 FMAs x 2).
pub const FLOP_PER_TURN: u64 = 256;

type CuResult = c_int;
type CuDevice = c_int;
type CuContext = *mut c_void;
type CuModule = *mut c_void;
type CuFunction = *mut c_void;
type CuStream = *mut c_void;
type CuEvent = *mut c_void;
type CuDevicePtr = u64;

/// The driver entry points kfcheck calls, resolved all at once (`$sym` is the exported name:
/// the `_v2` ABI where the driver has one).
macro_rules! driver_api {
    ($( $field:ident = $sym:literal ( $($arg:ty),* ); )*) => {
        #[allow(non_snake_case)]
        struct Fns { $( $field: unsafe extern "C" fn($($arg),*) -> CuResult, )* }

        /// Every symbol this crate needs from libcuda.
        pub const SYMBOLS: &[&str] = &[$($sym),*];

        impl Fns {
            /// Resolves every symbol, or names all that are missing.
            fn resolve(lib: &Library) -> Result<Fns, Vec<String>> {
                let mut missing = Vec::new();
                $(
                    // SAFETY: the type is the driver API's documented signature for this symbol.
                    let $field = unsafe {
                        lib.get::<unsafe extern "C" fn($($arg),*) -> CuResult>(concat!($sym, "\0").as_bytes())
                    }
                    .map(|s| *s)
                    .map_err(|_| missing.push($sym.to_string()))
                    .ok();
                )*
                match ($($field,)*) {
                    ($(Some($field),)*) => Ok(Fns { $($field,)* }),
                    _ => Err(missing),
                }
            }
        }
    };
}

driver_api! {
    init = "cuInit"(c_uint);
    driver_get_version = "cuDriverGetVersion"(*mut c_int);
    get_error_name = "cuGetErrorName"(CuResult, *mut *const c_char);
    device_get_count = "cuDeviceGetCount"(*mut c_int);
    device_get = "cuDeviceGet"(*mut CuDevice, c_int);
    device_get_name = "cuDeviceGetName"(*mut c_char, c_int, CuDevice);
    device_get_attribute = "cuDeviceGetAttribute"(*mut c_int, c_int, CuDevice);
    device_total_mem = "cuDeviceTotalMem_v2"(*mut usize, CuDevice);
    device_get_pci_bus_id = "cuDeviceGetPCIBusId"(*mut c_char, c_int, CuDevice);
    primary_ctx_retain = "cuDevicePrimaryCtxRetain"(*mut CuContext, CuDevice);
    primary_ctx_release = "cuDevicePrimaryCtxRelease_v2"(CuDevice);
    ctx_set_current = "cuCtxSetCurrent"(CuContext);
    ctx_synchronize = "cuCtxSynchronize"();
    module_load_data_ex = "cuModuleLoadDataEx"(*mut CuModule, *const c_void, c_uint, *mut c_int, *mut *mut c_void);
    module_unload = "cuModuleUnload"(CuModule);
    module_get_function = "cuModuleGetFunction"(*mut CuFunction, CuModule, *const c_char);
    mem_alloc = "cuMemAlloc_v2"(*mut CuDevicePtr, usize);
    mem_free = "cuMemFree_v2"(CuDevicePtr);
    mem_alloc_host = "cuMemAllocHost_v2"(*mut *mut c_void, usize);
    mem_free_host = "cuMemFreeHost"(*mut c_void);
    memset_d32 = "cuMemsetD32_v2"(CuDevicePtr, c_uint, usize);
    mem_get_info = "cuMemGetInfo_v2"(*mut usize, *mut usize);
    memcpy_htod_async = "cuMemcpyHtoDAsync_v2"(CuDevicePtr, *const c_void, usize, CuStream);
    memcpy_dtoh_async = "cuMemcpyDtoHAsync_v2"(*mut c_void, CuDevicePtr, usize, CuStream);
    launch_kernel = "cuLaunchKernel"(CuFunction, c_uint, c_uint, c_uint, c_uint, c_uint, c_uint, c_uint, CuStream, *mut *mut c_void, *mut *mut c_void);
    event_create = "cuEventCreate"(*mut CuEvent, c_uint);
    event_record = "cuEventRecord"(CuEvent, CuStream);
    event_synchronize = "cuEventSynchronize"(CuEvent);
    event_elapsed_time = "cuEventElapsedTime"(*mut f32, CuEvent, CuEvent);
    event_destroy = "cuEventDestroy_v2"(CuEvent);
}

/// Where the driver library is looked for: `KFCHECK_CUDA_LIBRARY` when set, then the names the
/// NVIDIA container runtime and driver packages install.
pub fn library_candidates() -> Vec<String> {
    let mut c = Vec::new();
    if let Ok(p) = std::env::var("KFCHECK_CUDA_LIBRARY") {
        if !p.is_empty() {
            c.push(p);
            return c;
        }
    }
    c.push("libcuda.so.1".into());
    c.push("libcuda.so".into());
    c
}

/// Why the driver could not be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenError {
    /// No candidate could be loaded; `error` is the loader's message for the last one.
    NoLibrary { tried: Vec<String>, error: String },
    /// A library loaded but lacks entry points kfcheck needs (a stub, or a driver older than CUDA 11).
    MissingSymbols { path: String, missing: Vec<String> },
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::NoLibrary { tried, error } => write!(
                f,
                "no CUDA driver library ({} could not be loaded: {error})",
                tried.join(", ")
            ),
            OpenError::MissingSymbols { path, missing } => write!(
                f,
                "{path} lacks {} of the CUDA driver entry points kfcheck needs: {}",
                missing.len(),
                missing.join(", ")
            ),
        }
    }
}

impl std::error::Error for OpenError {}

/// A CUDA driver call that returned an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CuError {
    pub call: &'static str,
    pub code: i32,
    pub name: String,
    /// The JIT's log, for a module that failed to load.
    pub log: Option<String>,
}

impl fmt::Display for CuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} returned {} ({})", self.call, self.name, self.code)?;
        if let Some(l) = &self.log {
            write!(f, ": {l}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CuError {}

/// Error names for the codes a probe is likely to meet, for drivers whose `cuGetErrorName` fails.
pub fn error_name(code: i32) -> &'static str {
    match code {
        1 => "CUDA_ERROR_INVALID_VALUE",
        2 => "CUDA_ERROR_OUT_OF_MEMORY",
        3 => "CUDA_ERROR_NOT_INITIALIZED",
        4 => "CUDA_ERROR_DEINITIALIZED",
        34 => "CUDA_ERROR_STUB_LIBRARY",
        35 => "CUDA_ERROR_INSUFFICIENT_DRIVER",
        46 => "CUDA_ERROR_DEVICE_UNAVAILABLE",
        100 => "CUDA_ERROR_NO_DEVICE",
        101 => "CUDA_ERROR_INVALID_DEVICE",
        200 => "CUDA_ERROR_INVALID_IMAGE",
        209 => "CUDA_ERROR_NO_BINARY_FOR_GPU",
        214 => "CUDA_ERROR_ECC_UNCORRECTABLE",
        218 => "CUDA_ERROR_INVALID_PTX",
        222 => "CUDA_ERROR_UNSUPPORTED_PTX_VERSION",
        304 => "CUDA_ERROR_OPERATING_SYSTEM",
        500 => "CUDA_ERROR_NOT_FOUND",
        700 => "CUDA_ERROR_ILLEGAL_ADDRESS",
        701 => "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES",
        702 => "CUDA_ERROR_LAUNCH_TIMEOUT",
        719 => "CUDA_ERROR_LAUNCH_FAILED",
        800 => "CUDA_ERROR_NOT_PERMITTED",
        801 => "CUDA_ERROR_NOT_SUPPORTED",
        802 => "CUDA_ERROR_SYSTEM_NOT_READY",
        803 => "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH",
        804 => "CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE",
        999 => "CUDA_ERROR_UNKNOWN",
        _ => "CUDA_ERROR_?",
    }
}

/// `cuInit`'s codes that mean "this machine has no usable GPU", as opposed to a driver fault.
pub const CUDA_ERROR_NO_DEVICE: i32 = 100;
/// The toolkit's stub `libcuda.so` (for linking), not a driver.
pub const CUDA_ERROR_STUB_LIBRARY: i32 = 34;
/// The kernel driver is older than the user-space library.
pub const CUDA_ERROR_INSUFFICIENT_DRIVER: i32 = 35;

/// What the driver says about one device.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceInfo {
    pub ordinal: i32,
    pub name: String,
    /// As the driver writes it, e.g. `0000:17:00.0`.
    pub pci_bus_id: String,
    pub total_memory_bytes: u64,
    pub sm_count: u32,
    pub compute_capability: (u32, u32),
    pub max_threads_per_sm: u32,
    /// Peak SM clock, kHz (`None` where the driver no longer reports it).
    pub clock_khz: Option<u32>,
    /// Peak memory clock, kHz.
    pub memory_clock_khz: Option<u32>,
    pub memory_bus_width_bits: Option<u32>,
}

/// The opened driver. Its calls are thread-safe (the driver API is), so one `Driver` serves a
/// thread per device.
pub struct Driver {
    f: Fns,
    path: String,
    // Last: the function pointers above are only valid while the library stays loaded.
    _lib: Library,
}

impl fmt::Debug for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Driver").field("path", &self.path).finish()
    }
}

impl Driver {
    /// Opens the first loadable candidate of [`library_candidates`].
    pub fn open() -> Result<Driver, OpenError> {
        Driver::open_from(&library_candidates())
    }

    /// Opens the first of `candidates` (paths or sonames) that loads.
    pub fn open_from(candidates: &[String]) -> Result<Driver, OpenError> {
        let tried = candidates.to_vec();
        let mut error = String::new();
        for path in &tried {
            // SAFETY: loading libcuda runs its initialisers, which is what every CUDA program does.
            match unsafe { Library::new(path) } {
                Ok(lib) => {
                    return match Fns::resolve(&lib) {
                        Ok(f) => Ok(Driver {
                            f,
                            path: path.clone(),
                            _lib: lib,
                        }),
                        Err(missing) => Err(OpenError::MissingSymbols {
                            path: path.clone(),
                            missing,
                        }),
                    }
                }
                Err(e) => error = e.to_string(),
            }
        }
        Err(OpenError::NoLibrary { tried, error })
    }

    /// The library that was opened.
    pub fn path(&self) -> &str {
        &self.path
    }

    fn check(&self, call: &'static str, code: CuResult) -> Result<(), CuError> {
        if code == 0 {
            return Ok(());
        }
        let mut p: *const c_char = std::ptr::null();
        // SAFETY: cuGetErrorName writes a pointer to a static string or fails.
        let named = unsafe { (self.f.get_error_name)(code, &mut p) } == 0 && !p.is_null();
        let name = if named {
            // SAFETY: the driver's static, NUL-terminated error name.
            unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
        } else {
            error_name(code).to_string()
        };
        Err(CuError {
            call,
            code,
            name,
            log: None,
        })
    }

    /// `cuInit(0)`: the first call; its error says whether there is a device at all.
    pub fn init(&self) -> Result<(), CuError> {
        // SAFETY: no pointers.
        self.check("cuInit", unsafe { (self.f.init)(0) })
    }

    /// The CUDA version the driver supports, e.g. 12040 for 12.4.
    pub fn version(&self) -> Result<i32, CuError> {
        let mut v = 0;
        // SAFETY: writes one int.
        self.check("cuDriverGetVersion", unsafe {
            (self.f.driver_get_version)(&mut v)
        })?;
        Ok(v)
    }

    pub fn device_count(&self) -> Result<u32, CuError> {
        let mut n = 0;
        // SAFETY: writes one int.
        self.check("cuDeviceGetCount", unsafe {
            (self.f.device_get_count)(&mut n)
        })?;
        Ok(n.max(0) as u32)
    }

    fn attribute(&self, attr: c_int, dev: CuDevice) -> Result<i32, CuError> {
        let mut v = 0;
        // SAFETY: writes one int.
        self.check("cuDeviceGetAttribute", unsafe {
            (self.f.device_get_attribute)(&mut v, attr, dev)
        })?;
        Ok(v)
    }

    fn handle(&self, ordinal: i32) -> Result<CuDevice, CuError> {
        let mut d = 0;
        // SAFETY: writes one int.
        self.check("cuDeviceGet", unsafe {
            (self.f.device_get)(&mut d, ordinal)
        })?;
        Ok(d)
    }

    /// Name, bus id and the attributes the expected figures are computed from.
    pub fn device(&self, ordinal: i32) -> Result<DeviceInfo, CuError> {
        let d = self.handle(ordinal)?;
        let mut name = [0 as c_char; 256];
        // SAFETY: the buffer's length is passed.
        self.check("cuDeviceGetName", unsafe {
            (self.f.device_get_name)(name.as_mut_ptr(), name.len() as c_int, d)
        })?;
        let mut bus = [0 as c_char; 64];
        // SAFETY: the buffer's length is passed.
        self.check("cuDeviceGetPCIBusId", unsafe {
            (self.f.device_get_pci_bus_id)(bus.as_mut_ptr(), bus.len() as c_int, d)
        })?;
        let mut mem = 0usize;
        // SAFETY: writes one size_t.
        self.check("cuDeviceTotalMem_v2", unsafe {
            (self.f.device_total_mem)(&mut mem, d)
        })?;
        let positive = |v: Result<i32, CuError>| v.ok().filter(|v| *v > 0).map(|v| v as u32);
        Ok(DeviceInfo {
            ordinal,
            name: c_text(&name),
            pci_bus_id: c_text(&bus),
            total_memory_bytes: mem as u64,
            sm_count: self.attribute(16, d)?.max(0) as u32,
            compute_capability: (
                self.attribute(75, d)?.max(0) as u32,
                self.attribute(76, d)?.max(0) as u32,
            ),
            max_threads_per_sm: self.attribute(39, d)?.max(0) as u32,
            clock_khz: positive(self.attribute(13, d)),
            memory_clock_khz: positive(self.attribute(36, d)),
            memory_bus_width_bits: positive(self.attribute(37, d)),
        })
    }
}

fn c_text(buf: &[c_char]) -> String {
    let bytes: Vec<u8> = buf
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| *c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The three phases of a load, in order. A sampler reads the current one from [`Load::phase`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Phase {
    Setup = 0,
    Compute = 1,
    Memory = 2,
    Link = 3,
    Done = 4,
}

impl Phase {
    pub fn from_u8(v: u8) -> Phase {
        match v {
            1 => Phase::Compute,
            2 => Phase::Memory,
            3 => Phase::Link,
            4 => Phase::Done,
            _ => Phase::Setup,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Phase::Setup => "setup",
            Phase::Compute => "compute",
            Phase::Memory => "memory",
            Phase::Link => "link",
            Phase::Done => "done",
        }
    }
}

/// How long each phase runs on one device.
#[derive(Debug, Clone, Copy)]
pub struct LoadPlan {
    pub compute: Duration,
    pub memory: Duration,
    pub link: Duration,
}

/// One timed batch of launches or copies: the work it did and the GPU time it took (CUDA events).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Batch {
    pub work: f64,
    pub gpu_seconds: f64,
}

impl Batch {
    pub fn rate(&self) -> f64 {
        if self.gpu_seconds > 0.0 {
            self.work / self.gpu_seconds
        } else {
            0.0
        }
    }
}

/// What one device achieved: batches of FLOPs, of bytes moved through device memory, and of bytes
/// copied each way over the host link.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadResult {
    pub compute: Vec<Batch>,
    pub memory: Vec<Batch>,
    pub host_to_device: Vec<Batch>,
    pub device_to_host: Vec<Batch>,
    /// Threads per launch of the compute kernel, and loop turns per launch after calibration.
    pub compute_threads: u64,
    pub compute_turns: u32,
    /// Size of each of the two device buffers the memory kernel streams between.
    pub memory_buffer_bytes: u64,
    pub link_buffer_bytes: u64,
}

/// A load's progress, readable from another thread (the NVML sampler tags samples with it).
#[derive(Debug, Default)]
pub struct Load {
    phase: AtomicU8,
}

impl Load {
    pub fn phase(&self) -> Phase {
        Phase::from_u8(self.phase.load(Ordering::Relaxed))
    }
    fn set(&self, p: Phase) {
        self.phase.store(p as u8, Ordering::Relaxed);
    }
}

/// Everything a load allocated, released in reverse on every path (a failed launch included).
struct Held<'d> {
    drv: &'d Driver,
    dev: CuDevice,
    ctx: bool,
    module: CuModule,
    device_ptrs: Vec<CuDevicePtr>,
    host_ptrs: Vec<*mut c_void>,
    events: Vec<CuEvent>,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let f = &self.drv.f;
        // SAFETY: each handle was created by this load and is released once; errors are ignored
        // (a failed device has nothing left to release).
        unsafe {
            if self.ctx {
                (f.ctx_synchronize)();
            }
            for e in self.events.drain(..) {
                (f.event_destroy)(e);
            }
            for p in self.device_ptrs.drain(..) {
                (f.mem_free)(p);
            }
            for p in self.host_ptrs.drain(..) {
                (f.mem_free_host)(p);
            }
            if !self.module.is_null() {
                (f.module_unload)(self.module);
            }
            if self.ctx {
                (f.primary_ctx_release)(self.dev);
            }
        }
    }
}

impl Driver {
    /// Loads the device `info` describes (from [`Driver::device`]) for `plan`'s phases on the
    /// calling thread and returns what it achieved. `progress` says which phase is running.
    pub fn load(
        &self,
        info: &DeviceInfo,
        plan: &LoadPlan,
        progress: &Load,
    ) -> Result<LoadResult, CuError> {
        progress.set(Phase::Setup);
        let f = &self.f;
        let mut h = Held {
            drv: self,
            dev: self.handle(info.ordinal)?,
            ctx: false,
            module: std::ptr::null_mut(),
            device_ptrs: Vec::new(),
            host_ptrs: Vec::new(),
            events: Vec::new(),
        };
        let mut ctx: CuContext = std::ptr::null_mut();
        // SAFETY: writes one context handle.
        self.check("cuDevicePrimaryCtxRetain", unsafe {
            (f.primary_ctx_retain)(&mut ctx, h.dev)
        })?;
        h.ctx = true;
        // SAFETY: the context just retained.
        self.check("cuCtxSetCurrent", unsafe { (f.ctx_set_current)(ctx) })?;
        h.module = self.load_module()?;
        let fma = self.function(h.module, c"kfcheck_fma")?;
        let copy = self.function(h.module, c"kfcheck_copy")?;
        let start = self.event(&mut h)?;
        let end = self.event(&mut h)?;

        // One full wave: as many 256-thread blocks as every SM holds at once.
        let block = 256u32;
        let blocks_per_sm = (info.max_threads_per_sm / block).max(1);
        let grid = info.sm_count.max(1) * blocks_per_sm;
        let threads = u64::from(grid) * u64::from(block);
        let mut out = LoadResult {
            compute_threads: threads,
            ..LoadResult::default()
        };

        // Compute: calibrate the loop turns so one launch takes about 20 ms, then time batches.
        progress.set(Phase::Compute);
        let out_buf = self.alloc(&mut h, threads * 4)?;
        let mut turns: u32 = 256;
        let launch_fma = |turns: u32| -> Result<(), CuError> {
            let mut p0 = out_buf;
            let mut p1 = turns as c_int;
            let mut params = [
                &mut p0 as *mut _ as *mut c_void,
                &mut p1 as *mut _ as *mut c_void,
            ];
            // SAFETY: the parameters match kfcheck_fma(float*, i32); the buffer holds one float
            // per thread.
            self.check("cuLaunchKernel", unsafe {
                (f.launch_kernel)(
                    fma,
                    grid,
                    1,
                    1,
                    block,
                    1,
                    1,
                    0,
                    std::ptr::null_mut(),
                    params.as_mut_ptr(),
                    std::ptr::null_mut(),
                )
            })
        };
        for _ in 0..4 {
            let t = self.timed(start, end, || launch_fma(turns))?;
            if t >= 0.015 {
                break;
            }
            let scale = if t > 0.0 { 0.02 / t } else { 64.0 };
            turns = ((f64::from(turns) * scale.min(64.0)) as u64).clamp(256, 1 << 24) as u32;
        }
        out.compute_turns = turns;
        let per_launch = threads as f64 * f64::from(turns) * FLOP_PER_TURN as f64;
        out.compute = self.batches(start, end, plan.compute, per_launch, || launch_fma(turns))?;

        // Memory: stream between two buffers of up to 512 MiB each (a quarter of free memory at most).
        progress.set(Phase::Memory);
        let free = self.free_memory()?;
        let size = (512u64 << 20).min(free / 4) & !0xFFFF;
        if size > 0 {
            let src = self.alloc(&mut h, size)?;
            let dst = self.alloc(&mut h, size)?;
            // SAFETY: `size` bytes at `src`, written as 32-bit words.
            self.check("cuMemsetD32_v2", unsafe {
                (f.memset_d32)(src, 0x3f80_0000, (size / 4) as usize)
            })?;
            let vectors = size / 16;
            let mut launch_copy = || -> Result<(), CuError> {
                let mut p0 = dst;
                let mut p1 = src;
                let mut p2 = vectors;
                let mut params = [
                    &mut p0 as *mut _ as *mut c_void,
                    &mut p1 as *mut _ as *mut c_void,
                    &mut p2 as *mut _ as *mut c_void,
                ];
                // SAFETY: kfcheck_copy(float4*, float4*, i64) over `vectors` 16-byte elements of
                // two buffers of `size` bytes.
                self.check("cuLaunchKernel", unsafe {
                    (f.launch_kernel)(
                        copy,
                        grid,
                        1,
                        1,
                        block,
                        1,
                        1,
                        0,
                        std::ptr::null_mut(),
                        params.as_mut_ptr(),
                        std::ptr::null_mut(),
                    )
                })
            };
            out.memory_buffer_bytes = size;
            out.memory =
                self.batches(start, end, plan.memory, 2.0 * size as f64, &mut launch_copy)?;
        }

        // Host link: pinned buffer copied each way, half the phase each.
        progress.set(Phase::Link);
        let free = self.free_memory()?;
        let size = (256u64 << 20).min(free / 4) & !0xFFFF;
        if size > 0 && !plan.link.is_zero() {
            let dev_buf = self.alloc(&mut h, size)?;
            let mut host: *mut c_void = std::ptr::null_mut();
            // SAFETY: writes one host pointer to `size` pinned bytes.
            self.check("cuMemAllocHost_v2", unsafe {
                (f.mem_alloc_host)(&mut host, size as usize)
            })?;
            h.host_ptrs.push(host);
            out.link_buffer_bytes = size;
            let half = plan.link / 2;
            out.host_to_device = self.batches(start, end, half, size as f64, || {
                // SAFETY: both buffers hold `size` bytes.
                self.check("cuMemcpyHtoDAsync_v2", unsafe {
                    (f.memcpy_htod_async)(dev_buf, host, size as usize, std::ptr::null_mut())
                })
            })?;
            out.device_to_host = self.batches(start, end, half, size as f64, || {
                // SAFETY: both buffers hold `size` bytes.
                self.check("cuMemcpyDtoHAsync_v2", unsafe {
                    (f.memcpy_dtoh_async)(host, dev_buf, size as usize, std::ptr::null_mut())
                })
            })?;
        }
        progress.set(Phase::Done);
        drop(h);
        Ok(out)
    }

    fn load_module(&self) -> Result<CuModule, CuError> {
        let mut image = LOAD_PTX.as_bytes().to_vec();
        image.push(0);
        let mut log = vec![0u8; 8192];
        let mut options: [c_int; 2] = [5, 6]; // CU_JIT_ERROR_LOG_BUFFER, ..._SIZE_BYTES
        let mut values: [*mut c_void; 2] = [log.as_mut_ptr().cast(), log.len() as *mut c_void];
        let mut module: CuModule = std::ptr::null_mut();
        // SAFETY: a NUL-terminated PTX image; the log buffer's size is passed with it.
        let code = unsafe {
            (self.f.module_load_data_ex)(
                &mut module,
                image.as_ptr().cast(),
                2,
                options.as_mut_ptr(),
                values.as_mut_ptr(),
            )
        };
        self.check("cuModuleLoadDataEx", code).map_err(|mut e| {
            let text: Vec<u8> = log.iter().copied().take_while(|b| *b != 0).collect();
            let text = String::from_utf8_lossy(&text).trim().to_string();
            e.log = (!text.is_empty()).then_some(text);
            e
        })?;
        Ok(module)
    }

    fn function(&self, module: CuModule, name: &CStr) -> Result<CuFunction, CuError> {
        let mut func: CuFunction = std::ptr::null_mut();
        // SAFETY: a loaded module and a NUL-terminated name.
        self.check("cuModuleGetFunction", unsafe {
            (self.f.module_get_function)(&mut func, module, name.as_ptr())
        })?;
        Ok(func)
    }

    fn event(&self, h: &mut Held<'_>) -> Result<CuEvent, CuError> {
        let mut e: CuEvent = std::ptr::null_mut();
        // SAFETY: writes one event handle; flags 0 keeps timing on.
        self.check("cuEventCreate", unsafe { (self.f.event_create)(&mut e, 0) })?;
        h.events.push(e);
        Ok(e)
    }

    fn alloc(&self, h: &mut Held<'_>, bytes: u64) -> Result<CuDevicePtr, CuError> {
        let mut p: CuDevicePtr = 0;
        // SAFETY: writes one device pointer.
        self.check("cuMemAlloc_v2", unsafe {
            (self.f.mem_alloc)(&mut p, bytes as usize)
        })?;
        h.device_ptrs.push(p);
        Ok(p)
    }

    fn free_memory(&self) -> Result<u64, CuError> {
        let (mut free, mut total) = (0usize, 0usize);
        // SAFETY: writes two size_t.
        self.check("cuMemGetInfo_v2", unsafe {
            (self.f.mem_get_info)(&mut free, &mut total)
        })?;
        Ok(free as u64)
    }

    /// GPU seconds `work` takes between two events on the default stream.
    fn timed(
        &self,
        start: CuEvent,
        end: CuEvent,
        work: impl FnOnce() -> Result<(), CuError>,
    ) -> Result<f64, CuError> {
        let f = &self.f;
        // SAFETY: events created by this load, on the default stream.
        self.check("cuEventRecord", unsafe {
            (f.event_record)(start, std::ptr::null_mut())
        })?;
        work()?;
        // SAFETY: as above.
        self.check("cuEventRecord", unsafe {
            (f.event_record)(end, std::ptr::null_mut())
        })?;
        // SAFETY: as above.
        self.check("cuEventSynchronize", unsafe { (f.event_synchronize)(end) })?;
        let mut ms = 0f32;
        // SAFETY: writes one float.
        self.check("cuEventElapsedTime", unsafe {
            (f.event_elapsed_time)(&mut ms, start, end)
        })?;
        Ok(f64::from(ms) / 1000.0)
    }

    /// Runs `launch` in timed batches of about 100 ms until `budget` of wall time is spent; the
    /// first batch sizes the rest. Each batch records `per_launch` units of work per launch.
    fn batches(
        &self,
        start: CuEvent,
        end: CuEvent,
        budget: Duration,
        per_launch: f64,
        mut launch: impl FnMut() -> Result<(), CuError>,
    ) -> Result<Vec<Batch>, CuError> {
        let began = Instant::now();
        let mut out = Vec::new();
        let mut n: u32 = 1;
        loop {
            let t = self.timed(start, end, || {
                for _ in 0..n {
                    launch()?;
                }
                Ok(())
            })?;
            out.push(Batch {
                work: per_launch * f64::from(n),
                gpu_seconds: t,
            });
            if began.elapsed() >= budget {
                break;
            }
            let per = t / f64::from(n);
            if per > 0.0 {
                n = ((0.1 / per) as u32).clamp(1, 10_000);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ptx_has_both_kernels_and_a_version_old_drivers_read() {
        assert!(LOAD_PTX.contains(".visible .entry kfcheck_fma("));
        assert!(LOAD_PTX.contains(".visible .entry kfcheck_copy("));
        assert!(LOAD_PTX.contains(".version 6.0"));
        assert_eq!(
            LOAD_PTX.matches("fma.rn.f32").count() as u64,
            FLOP_PER_TURN / 2,
            "the FLOP count per turn must match the kernel"
        );
    }

    #[test]
    fn a_missing_library_is_an_error_naming_what_was_tried() {
        let e = Driver::open_from(&["/nonexistent/libcuda.so.1".to_string()]).unwrap_err();
        match &e {
            OpenError::NoLibrary { tried, .. } => {
                assert_eq!(tried, &["/nonexistent/libcuda.so.1".to_string()])
            }
            other => panic!("{other:?}"),
        }
        assert!(e.to_string().starts_with("no CUDA driver library"));
    }

    #[test]
    fn a_library_without_the_symbols_names_them() {
        // libc loads everywhere and has none of the driver's entry points.
        let e = Driver::open_from(&["libc.so.6".to_string()]).unwrap_err();
        match e {
            OpenError::MissingSymbols { missing, .. } => {
                assert_eq!(missing.len(), SYMBOLS.len());
                assert!(missing.contains(&"cuLaunchKernel".to_string()));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn batch_rate_is_work_per_gpu_second() {
        let b = Batch {
            work: 10.0,
            gpu_seconds: 0.5,
        };
        assert_eq!(b.rate(), 20.0);
        assert_eq!(
            Batch {
                work: 1.0,
                gpu_seconds: 0.0
            }
            .rate(),
            0.0
        );
        assert_eq!(error_name(218), "CUDA_ERROR_INVALID_PTX");
    }
}
