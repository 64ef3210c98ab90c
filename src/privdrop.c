/* privdrop.c: being written */
