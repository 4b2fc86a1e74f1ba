#include "vireo_kernels.h"
#include "vireo_hnsw.h"
#include "vireo_ivf.h"
