/* A program built against an installed mbridge, through pkg-config or find_package(mbridge). */
#include <mbridge.h>
#include <stdio.h>
#include <string.h>

int main(void) {
  if (strcmp(mb_version(), MB_VERSION_STRING) != 0) return 1;
  mb_checkpoint *ck = NULL;
  if (mb_checkpoint_open(&ck, "/nonexistent", NULL) != MB_ERR_NOT_FOUND) return 1;
  printf("consumer linked mbridge %s\n", mb_version());
  return 0;
}
