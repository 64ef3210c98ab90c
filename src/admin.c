/* admin.c: being written */
