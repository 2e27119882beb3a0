// C exports: see include/charrnn.h
