#ifndef VIREO_CLMDB_SHIM_H
#define VIREO_CLMDB_SHIM_H
#include <lmdb.h>
#endif
