"""One million print() lines (stdout goes to a file)."""
for i in range(1_000_000):
    print("line", i)
