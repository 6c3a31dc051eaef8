/*
 * bcryptprimitives.dll for running dockwright's Windows build under wine 8 (Debian
 * 12's), which lacks ProcessPrng: Rust's standard library asks it for random bytes
 * since Rust 1.78. It is implemented here with SystemFunction036 (RtlGenRandom),
 * which wine has. Test-only: Windows itself has the real DLL.
 *
 * Built by scripts/lib.sh (build_wine_shim) with
 *   x86_64-w64-mingw32-gcc -shared -O2 -o bcryptprimitives.dll bcryptprimitives.c -ladvapi32
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
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
