/* A program built against an installed mbridge, through pkg-config or find_package(mbridge). */
#include <mbridge.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
  if (strcmp(mb_version(), MB_VERSION_STRING) != 0) return 1;
  mb_checkpoint *ck = NULL;
  if (mb_checkpoint_open(&ck, "/nonexistent", NULL) != MB_ERR_NOT_FOUND) return 1;
  /* a Hub id, with the Hub unreachable: the download code (libcurl) is linked and answers */
  setenv("HF_ENDPOINT", "http://127.0.0.1:9", 1);
  setenv("HF_HUB_CACHE", "/nonexistent/hub-cache", 1);
  unsetenv("HF_HUB_OFFLINE");
  mb_status st = mb_checkpoint_open(&ck, "mbridge-test/not-here", NULL);
  if (st != MB_ERR_NETWORK && st != MB_ERR_UNSUPPORTED) return 1; /* UNSUPPORTED: built without libcurl */
  printf("consumer linked mbridge %s\n", mb_version());
  return 0;
}
