#ifndef VIREO_COPENBLAS_SHIM_H
#define VIREO_COPENBLAS_SHIM_H
// Debian's cblas.h alternative points at OpenBLAS' header (which declares openblas_* too).
#include <cblas.h>
#endif
