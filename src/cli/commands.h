// The mbridge subcommands; each returns the process exit code (0 ok, 1 differences found, 2 error).
#pragma once

namespace mb::cli {

int run_tensors(int argc, char** argv);
int run_info(int argc, char** argv);
int run_transcode(int argc, char** argv);
int run_compare(int argc, char** argv);
int run_verify(int argc, char** argv);

}  // namespace mb::cli
