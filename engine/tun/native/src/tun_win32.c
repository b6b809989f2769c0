/* Windows: see tun_win32.c (to be written). */
