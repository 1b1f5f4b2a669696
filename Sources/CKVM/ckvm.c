// Definitions for CKVM.h that cannot be header-only live here (ioctl numbers, signal helpers).
#include "CKVM.h"
