print("hello from a script")
