#ifndef VIREO_CSTEMMER_SHIM_H
#define VIREO_CSTEMMER_SHIM_H
// libstemmer (Snowball): Debian package libstemmer-dev.
#include <libstemmer.h>
#endif
