// A parser thread for parser-thread.test.ts whose load never ends: it spins before it is ready.
for (;;);
