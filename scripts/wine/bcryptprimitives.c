/* Test tooling only, never shipped: a stand-in bcryptprimitives.dll for running
 * x86_64-pc-windows-gnu builds under wine 8, which lacks the ProcessPrng export that
 * Rust's std imports (std's random source since Rust 1.78). scripts/cross-check.sh builds
 * it with mingw-w64 and puts it beside the .exe in the test directory only.
 * ProcessPrng is forwarded to advapi32's SystemFunction036 (RtlGenRandom), which wine has. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x40000000 ? 0x40000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
