// run_blocking is a template; this unit only makes sure the header compiles on its own.
#include "target/storage/blocking.hpp"
