#ifndef VIREO_CZSTD_SHIM_H
#define VIREO_CZSTD_SHIM_H
#include <zstd.h>
#endif
