/* An HIS stand-in in C: reads one command per line on stdin, calls libsscardreader.so,
 * prints "<rc> <hex of each output buffer>" per line (tests/readerlib/conftest.py). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sscardreader.h"

#define CANARY 16

static void hex(const char *buffer) {
    size_t n = strlen(buffer);
    printf(" ");
    if (n == 0) { printf("-"); return; }
    for (size_t i = 0; i < n; i++) printf("%02X", (unsigned char)buffer[i]);
}

int main(void) {
    static char line[16384];
    static char err[SSCARD_SIZE_PERRMSG], info[SSCARD_SIZE_PCARDINFO];
    static char busi[SSCARD_SIZE_PBUSICARDINFO], out[SSCARD_SIZE_POUTBUFF];
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = 0;
        memset(err, 0, sizeof err); memset(info, 0, sizeof info);
        memset(busi, 0, sizeof busi); memset(out, 0, sizeof out);
        if (strncmp(line, "init ", 5) == 0) {
            long rc = Init(line + 5, err);
            printf("%ld", rc); hex(err);
        } else if (strcmp(line, "read") == 0) {
            long rc = ReadCardBas(info, busi);
            printf("%ld", rc); hex(info); hex(busi);
        } else if (strncmp(line, "read_small ", 11) == 0) {
            int size = atoi(line + 11);
            char *small = malloc(size + CANARY);
            memset(small, 0xAA, size + CANARY);
            long rc = ReadCardBas(small, busi);
            int intact = 1;
            for (int i = size; i < size + CANARY; i++) if ((unsigned char)small[i] != 0xAA) intact = 0;
            printf("%ld", rc);
            if (memchr(small, 0, size)) hex(small); else printf(" UNTERMINATED");
            hex(busi); printf(" %s", intact ? "canary-intact" : "canary-overwritten");
            free(small);
        } else if (strcmp(line, "verify") == 0) {
            long rc = VerifyPIN(out);
            printf("%ld", rc); hex(out);
        } else if (strcmp(line, "change") == 0) {
            long rc = ChangePIN(out);
            printf("%ld", rc); hex(out);
        } else if (strncmp(line, "iread ", 6) == 0) {
            long rc = iReadCardBas(atoi(line + 6), info);
            printf("%ld", rc); hex(info);
        } else if (strncmp(line, "iverify ", 8) == 0) {
            long rc = iVerifyPIN(atoi(line + 8), out);
            printf("%ld", rc); hex(out);
        } else if (strcmp(line, "quit") == 0) {
            break;
        } else {
            printf("unknown-command");
        }
        printf("\n");
        fflush(stdout);
    }
    return 0;
}
