#ifndef FORKLIFT_CEDITLINE_SHIM_H
#define FORKLIFT_CEDITLINE_SHIM_H
#include <stdio.h>
#include <editline/readline.h>
#endif
