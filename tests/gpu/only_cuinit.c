/* A library that has cuInit and nothing else: a toolkit stub or a far too old driver, as the
 * probe meets them. For tests/gpu_probe.rs. */
int cuInit(unsigned f) { (void)f; return 0; }
