/* A stand-in for libcuda.so.1, for tests/gpu_probe.rs only: CI has no GPU, and this is how the
 * probe's driver paths (no device, a PTX the JIT rejects, a device that is slow) and its cleanup
 * are exercised without one. It computes nothing: a virtual clock advances by the work each call
 * asks for at the rates FAKE_CUDA_TFLOPS / FAKE_CUDA_GBPS / FAKE_CUDA_LINK_GBPS, and the events
 * read that clock. FAKE_CUDA_MODE picks the behaviour (nodevice, stub, zero, badptx, ok); at exit
 * it writes how many of each handle were made and released to FAKE_CUDA_LEDGER. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>

static double now_ms;
static long allocs, frees, host_allocs, host_frees, events, event_frees, retains, releases,
    modules, unloads, launches;

static const char *mode(void) { const char *m = getenv("FAKE_CUDA_MODE"); return m ? m : "ok"; }
static double rate(const char *k, double d) { const char *v = getenv(k); return v ? atof(v) : d; }

__attribute__((destructor)) static void ledger(void) {
  const char *p = getenv("FAKE_CUDA_LEDGER");
  if (!p) return;
  FILE *f = fopen(p, "w");
  if (!f) return;
  fprintf(f, "allocs=%ld frees=%ld host_allocs=%ld host_frees=%ld events=%ld event_frees=%ld "
             "retains=%ld releases=%ld modules=%ld unloads=%ld launches=%ld\n",
          allocs, frees, host_allocs, host_frees, events, event_frees, retains, releases, modules,
          unloads, launches);
  fclose(f);
}

int cuInit(unsigned f) {
  (void)f;
  if (!strcmp(mode(), "nodevice")) return 100;
  if (!strcmp(mode(), "stub")) return 34;
  return 0;
}
int cuDriverGetVersion(int *v) { *v = 12040; return 0; }
int cuGetErrorName(int e, const char **s) { (void)e; (void)s; return 1; /* the probe's own table names it */ }
int cuDeviceGetCount(int *n) { *n = strcmp(mode(), "zero") ? 1 : 0; return 0; }
int cuDeviceGet(int *d, int o) { *d = o; return o == 0 ? 0 : 101; }
int cuDeviceGetName(char *b, int n, int d) { (void)d; snprintf(b, n, "Fake GPU (tests/gpu/fake_libcuda.c)"); return 0; }
int cuDeviceGetAttribute(int *v, int a, int d) {
  (void)d;
  switch (a) {
  case 16: *v = 4; break;          /* SMs */
  case 75: *v = 8; break;          /* compute capability 8.6: 128 FP32 lanes per SM */
  case 76: *v = 6; break;
  case 39: *v = 1536; break;       /* threads per SM */
  case 13: *v = 1500000; break;    /* SM clock, kHz */
  case 36: *v = 7000000; break;    /* memory clock, kHz */
  case 37: *v = 256; break;        /* bus width, bits */
  default: *v = 0;
  }
  return 0;
}
int cuDeviceTotalMem_v2(size_t *m, int d) { (void)d; *m = (size_t)16 << 30; return 0; }
int cuDeviceGetPCIBusId(char *b, int n, int d) { (void)d; snprintf(b, n, "0000:17:00.0"); return 0; }
int cuDevicePrimaryCtxRetain(void **c, int d) { (void)d; *c = (void *)0x1; retains++; return 0; }
int cuDevicePrimaryCtxRelease_v2(int d) { (void)d; releases++; return 0; }
int cuCtxSetCurrent(void *c) { (void)c; return 0; }
int cuCtxSynchronize(void) { return 0; }
int cuModuleLoadDataEx(void **m, const void *img, unsigned n, int *opt, void **val) {
  if (!strcmp(mode(), "badptx")) {
    for (unsigned i = 0; i < n; i++)
      if (opt[i] == 5) snprintf((char *)val[i], 64, "ptxas fatal: fake JIT refuses the PTX");
    return 218;
  }
  if (!strstr((const char *)img, ".entry kfcheck_fma")) return 200;
  *m = (void *)0x2; modules++; return 0;
}
int cuModuleUnload(void *m) { (void)m; unloads++; return 0; }
int cuModuleGetFunction(void **f, void *m, const char *name) {
  (void)m;
  if (!strcmp(name, "kfcheck_fma")) *f = (void *)0x10;
  else if (!strcmp(name, "kfcheck_copy")) *f = (void *)0x20;
  else return 500;
  return 0;
}
static uint64_t next_ptr = 0x100000;
int cuMemAlloc_v2(uint64_t *p, size_t n) { *p = next_ptr; next_ptr += (n + 0xfff) & ~(size_t)0xfff; allocs++; return 0; }
int cuMemFree_v2(uint64_t p) { (void)p; frees++; return 0; }
int cuMemAllocHost_v2(void **p, size_t n) { (void)n; *p = malloc(16); host_allocs++; return 0; }
int cuMemFreeHost(void *p) { free(p); host_frees++; return 0; }
int cuMemsetD32_v2(uint64_t p, unsigned v, size_t n) { (void)p; (void)v; (void)n; return 0; }
int cuMemGetInfo_v2(size_t *f, size_t *t) { *f = (size_t)15 << 30; *t = (size_t)16 << 30; return 0; }
static double link_ms(size_t n) { return (double)n / (rate("FAKE_CUDA_LINK_GBPS", 25.0) * 1e9) * 1e3; }
int cuMemcpyHtoDAsync_v2(uint64_t d, const void *s, size_t n, void *st) { (void)d; (void)s; (void)st; now_ms += link_ms(n); return 0; }
int cuMemcpyDtoHAsync_v2(void *d, uint64_t s, size_t n, void *st) { (void)d; (void)s; (void)st; now_ms += link_ms(n); return 0; }
int cuLaunchKernel(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                   unsigned bz, unsigned sh, void *st, void **params, void **extra) {
  (void)gy; (void)gz; (void)by; (void)bz; (void)sh; (void)st; (void)extra;
  launches++;
  double threads = (double)gx * bx;
  if (f == (void *)0x10) {
    int turns = *(int *)params[1];
    now_ms += threads * turns * 256.0 / (rate("FAKE_CUDA_TFLOPS", 1.4) * 1e12) * 1e3;
  } else if (f == (void *)0x20) {
    int64_t vectors = *(int64_t *)params[2];
    now_ms += 2.0 * (double)vectors * 16.0 / (rate("FAKE_CUDA_GBPS", 400.0) * 1e9) * 1e3;
  } else {
    return 400;
  }
  return 0;
}
int cuEventCreate(void **e, unsigned f) { (void)f; *e = calloc(1, sizeof(double)); events++; return 0; }
int cuEventRecord(void *e, void *s) { (void)s; *(double *)e = now_ms; return 0; }
int cuEventSynchronize(void *e) { (void)e; return 0; }
int cuEventElapsedTime(float *ms, void *a, void *b) { *ms = (float)(*(double *)b - *(double *)a); return 0; }
int cuEventDestroy_v2(void *e) { free(e); event_frees++; return 0; }
