/* notify.c: being written */
