// Placeholder until the client lands.
process.stdout.write('sentinel-tvm: not implemented yet\n');
