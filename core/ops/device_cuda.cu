/* Run-time detection of CUDA GPUs; a missing driver or device is not an error (CPU path). */
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stdio.h>

extern "C" {
#include "device.h"
}

extern "C" int device_cuda_built(void) { return 1; }

extern "C" int device_cuda_count(char *name, size_t n) {
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess || count == 0) {
    /* cudart reports a missing driver as "driver version is insufficient"; tell them apart. */
    int driver = 0, runtime = 0;
    if (cudaDriverGetVersion(&driver) != cudaSuccess)
      driver = 0;
    if (cudaRuntimeGetVersion(&runtime) != cudaSuccess)
      runtime = 0;
    if (err == cudaSuccess || err == cudaErrorNoDevice)
      snprintf(name, n, "no GPU found");
    else if (driver == 0)
      snprintf(name, n, "no GPU found (no NVIDIA driver)");
    else if (err == cudaErrorInsufficientDriver)
      snprintf(name, n, "GPU unusable: its driver supports CUDA %d.%d, this build needs %d.%d",
               driver / 1000, driver % 1000 / 10, runtime / 1000, runtime % 1000 / 10);
    else
      snprintf(name, n, "GPU unusable: %s", cudaGetErrorString(err));
    return 0;
  }
  cudaDeviceProp prop;
  if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) {
    snprintf(name, n, "device 0 unreadable");
    return 0;
  }
  int cublas_version = 0;
  cublasHandle_t handle;
  if (cublasCreate(&handle) == CUBLAS_STATUS_SUCCESS) {
    cublasGetVersion(handle, &cublas_version);
    cublasDestroy(handle);
  }
  snprintf(name, n, "%s (sm_%d%d, %.1f GiB, cuBLAS %d)", prop.name, prop.major, prop.minor,
           (double)prop.totalGlobalMem / (1 << 30), cublas_version);
  return count;
}
